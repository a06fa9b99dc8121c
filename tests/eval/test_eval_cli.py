"""`python -m src.eval` end to end on a smoke SFT run directory, and its bad-input errors (exit 2, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from src.eval.__main__ import main

pytestmark = pytest.mark.slow  # one 2-step smoke SFT (~40 s on 2 cores) + one 2-image evaluation (~30 s)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, repo_root, tiny_model_dir, synthetic_data_dir) -> Path:
    out = tmp_path_factory.mktemp("eval_smoke") / "run"
    cmd = [sys.executable, "-m", "src.sft", "--config", "configs/smoke/sft_dense_tiny.yaml",
           f"training.output_dir={out}", f"training.logging_dir={out}/tb", "training.max_steps=2",
           "training.save_steps=2"]
    proc = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def evaluated(run_dir, repo_root) -> tuple[Path, subprocess.CompletedProcess]:
    cmd = [sys.executable, "-m", "src.eval", str(run_dir), "--num", "2", "--batch-size", "2", "--overlays", "2"]
    proc = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return run_dir / "eval" / "checkpoint-2" / "val", proc


def test_run_dir_evaluation_writes_the_four_outputs(evaluated, run_dir, synthetic_data_dir):
    out, proc = evaluated
    lines = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [x["index"] for x in lines] == [0, 1]
    val = [json.loads(x) for x in (synthetic_data_dir / "val.jsonl").read_text().splitlines()]
    assert [x["image"] for x in lines] == [v["images"][0] for v in val[:2]]
    for x in lines:
        assert x["dataset"] == "synthetic_dense" and isinstance(x["completion"], str)
        assert x["finish_reason"] in ("stop", "length")
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("bbox/map", "bbox/ap50", "bbox/ap75", "bbox/ar100", "bbox_agnostic/map", "segm/map",
                "match/f1@0.50", "match/f1@0.50:0.95", "match/cat_f1@0.50", "parse/parse_rate", "parse/truncated"):
        assert key in metrics, key
    assert metrics["n_images"] == 2 and metrics["confidence"] == "mean_token_logprob"
    assert metrics["parse/mean_gt_objects"] == sum(len(v["objects"]) for v in val[:2]) / 2
    assert set(metrics["per_dataset"]) == {"synthetic_dense"}
    assert sorted(p.name for p in (out / "overlays").glob("*.png")) == ["synthetic_dense_000000.png",
                                                                        "synthetic_dense_000001.png"]
    assert "bbox/map" in proc.stdout and "detection metrics" in proc.stdout  # the rich summary table
    manifest = json.loads((run_dir / "run_manifest.json").read_text())
    assert manifest["evaluations"][-1]["checkpoint"] == "checkpoint-2"


def test_predictions_file_is_rescored_to_the_same_metrics(evaluated, run_dir, tmp_path):
    out, _ = evaluated
    rescored = tmp_path / "rescored"
    assert main([str(run_dir), "--predictions", str(out / "predictions.jsonl"), "--num", "2", "--out", str(rescored),
                 "--overlays", "1"]) == 0
    assert [p.name for p in (rescored / "overlays").glob("*.png")] == ["synthetic_dense_000000.png"]
    before = json.loads((out / "metrics.json").read_text())
    after = json.loads((rescored / "metrics.json").read_text())
    for key in ("bbox/map", "match/f1@0.50", "parse/parse_rate", "parse/truncated", "per_category"):
        assert after[key] == before[key], key


def _error(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    message = err[err.index("error: "):]
    assert message.count("\n") == 1, message  # one paragraph, the last thing printed
    return message


def _cli_error(repo_root: Path, argv: list[str]) -> str:
    """The real command in a subprocess (for errors found after ms-swift has loaded)."""
    proc = subprocess.run([sys.executable, "-m", "src.eval", *argv], cwd=repo_root, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    message = proc.stderr[proc.stderr.index("error: "):]
    assert message.count("\n") == 1, message
    return message


def test_missing_checkpoint(run_dir, capsys):
    err = _error(capsys, [str(run_dir), "--checkpoint", "checkpoint-99"])
    assert "checkpoint checkpoint-99 not found" in err


def test_run_dir_without_manifest(tmp_path, capsys):
    err = _error(capsys, [str(tmp_path)])
    assert "holds no run_manifest.json" in err and "--config PRESET --checkpoint DIR" in err


def _fusion(tmp_path: Path, val: Path | None, train: Path) -> Path:
    path = tmp_path / "fusion.yaml"
    lines = ["targets:", "  - name: t", "    dataset: t", f"    train_jsonl: {train}"]
    if val is not None:
        lines.append(f"    val_jsonl: {val}")
    path.write_text("\n".join([*lines, "    ratio: 1.0", "    mode: dense", "sources: []", ""]))
    return path


def test_split_without_val_jsonl(run_dir, tmp_path, capsys, synthetic_data_dir):
    fusion = _fusion(tmp_path, None, synthetic_data_dir / "train.jsonl")
    err = _error(capsys, ["--config", "configs/smoke/sft_dense_tiny.yaml", "--checkpoint",
                          str(run_dir / "checkpoint-2"), f"custom.fusion_config={fusion}"])
    assert "no fusion target" in err and "val_jsonl" in err and "--split train" in err


def test_unreadable_image(run_dir, tmp_path, capsys, synthetic_data_dir):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    record = {"images": ["broken.png"], "width": 64, "height": 64, "objects": [{"desc": "a", "bbox_2d": [1, 2, 3, 4]}]}
    val = tmp_path / "val.jsonl"
    val.write_text(json.dumps(record) + "\n")
    fusion = _fusion(tmp_path, val, synthetic_data_dir / "train.jsonl")
    err = _error(capsys, ["--config", "configs/smoke/sft_dense_tiny.yaml", "--checkpoint",
                          str(run_dir / "checkpoint-2"), f"custom.fusion_config={fusion}"])
    assert f"{val}:1" in err and "broken.png cannot be read" in err


def test_template_fingerprint_mismatch(run_dir, tmp_path, repo_root):
    other = tmp_path / "run"
    other.mkdir()
    (other / "config").symlink_to(run_dir / "config")
    (other / "checkpoint-2").symlink_to(run_dir / "checkpoint-2")
    manifest = json.loads((run_dir / "run_manifest.json").read_text())
    manifest["template_fingerprint"]["sha256"] = "0123456789abcdef" * 4
    (other / "run_manifest.json").write_text(json.dumps(manifest))
    err = _cli_error(repo_root, [str(other), "--num", "1"])
    assert "does not render like the run's" in err and "0123456789ab" in err


def test_budget_smaller_than_the_longest_target(run_dir, repo_root):
    err = _cli_error(repo_root, [str(run_dir), "--num", "1", "--max-new-tokens", "5"])
    assert "max_new_tokens 5 is smaller than" in err and "--max-new-tokens" in err
