"""A run directory is self-contained: presets that live outside the repository (relative and absolute
`extends`, a fusion config of their own) are re-resolved from the run's copies by `reproduce` and by
`src.eval`'s run loading, from another working directory, with a relative RUN_DIR, after the originals
changed. No training: the run directory is what the launcher writes before the first step (the
manifest and the config copies)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from src.config import REPO_ROOT, load_training_config
from src.eval.source import load_run
from src.provenance.manifest import write_manifest
from src.provenance.reproduce import reproduce
from src.provenance.rundir import RunPlan
from src.provenance.session import RunSession

SMOKE = REPO_ROOT / "configs/smoke/sft_dense_tiny.yaml"
FUSION = REPO_ROOT / "configs/fusion/variants/synthetic_tiny.yaml"


def write_run_dir(preset: Path, run_dir: Path, overrides: list[str]) -> dict:
    """The run directory as the launcher leaves it at the first step: manifest + config copies."""
    cfg = load_training_config(preset, [f"training.output_dir={run_dir}", *overrides])
    session = RunSession(cfg, RunPlan(run_dir, None, False), argv=["src.sft"], flags={},
                         overrides=[f"training.output_dir={run_dir}", *overrides])
    manifest = session._fresh_manifest()
    write_manifest(run_dir, manifest)
    return manifest


@pytest.fixture
def outside(tmp_path) -> Path:
    """Presets in a folder outside the repository: one extends the smoke preset by a relative path, one by
    an absolute path, one extends another outside preset; the fusion config of their own extends the repo's."""
    presets, fusion = tmp_path / "my" / "presets", tmp_path / "my" / "fusion"
    presets.mkdir(parents=True)
    fusion.mkdir()
    (fusion / "mine.yaml").write_text(f"extends: {FUSION}\ntargets:\n  - name: synthetic_dense\n    ratio: 0.5\n")
    relative = os.path.relpath(SMOKE, presets)
    (presets / "rel.yaml").write_text(
        f"extends: {relative}\ntraining:\n  learning_rate: 2.0e-3\ncustom:\n  fusion_config: {fusion / 'mine.yaml'}\n")
    (presets / "abs.yaml").write_text(f"extends: {SMOKE}\ntraining:\n  learning_rate: 3.0e-3\n")
    (presets / "child.yaml").write_text("extends: rel.yaml\ntraining:\n  seed: 7\n")
    return tmp_path


def _reproduce_cli(run_dir: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "src.provenance.reproduce", run_dir], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("name", ["rel", "abs", "child"])
def test_reproduce_from_another_cwd_with_a_relative_run_dir(outside, name):
    runs = outside / "runs"
    manifest = write_run_dir(outside / "my/presets" / f"{name}.yaml", runs / name, ["training.max_steps=4"])
    assert manifest["config"]["chain"][0] == "configs/base.yaml"
    proc = _reproduce_cli(name, cwd=runs)  # RUN_DIR relative to a working directory outside the repo
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert out.splitlines()[-1] == "no differences" and "not a copy" not in out
    files = len(manifest["config"]["files"])
    assert f"config copies: {files} file(s)" in out and "data: 2 JSONL file(s)" in out
    assert f"from {len(manifest['config']['chain'])} file(s)" in out and "1 recorded override(s)" not in out


def test_copies_are_read_not_the_originals(outside, monkeypatch):
    run_dir = outside / "runs" / "child"
    write_run_dir(outside / "my/presets/child.yaml", run_dir, [])
    # The originals change (or vanish) after the run: the run directory still says what it trained with.
    (outside / "my/presets/rel.yaml").write_text("extends: nowhere.yaml\n")
    (outside / "my/fusion/mine.yaml").unlink()
    report = reproduce(run_dir)
    assert report.differences == []
    monkeypatch.chdir(outside)  # src.eval with a relative RUN_DIR from another working directory
    run = load_run(Path("runs/child"))
    assert run.cfg.training["learning_rate"] == 2.0e-3 and run.cfg.training["seed"] == 7
    assert [t.ratio for t in run.cfg.fusion.targets] == [0.5]
    assert run.run_dir == run_dir


def test_an_edited_copy_is_a_difference_and_a_missing_one_an_error(outside):
    run_dir = outside / "runs" / "abs"
    manifest = write_run_dir(outside / "my/presets/abs.yaml", run_dir, [])
    (external,) = [f for f in manifest["config"]["files"] if f["path"].endswith("abs.yaml")]
    copy = run_dir / external["copy"]
    copy.write_text(copy.read_text().replace("3.0e-3", "4.0e-3"))
    report = reproduce(run_dir)
    assert report.differences == ["training.learning_rate: 0.003 -> 0.004"]
    (smoke,) = [f for f in manifest["config"]["files"] if f["path"] == "configs/smoke/sft_dense_tiny.yaml"]
    (run_dir / smoke["copy"]).unlink()
    proc = _reproduce_cli(str(run_dir), cwd=outside)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "copy of this config file" in proc.stderr and "is missing" in proc.stderr


def test_changed_training_data_is_a_difference(outside, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "val"):
        (data / f"{split}.jsonl").write_bytes((REPO_ROOT / f"artifacts/data/synthetic_dense/{split}.jsonl").read_bytes())
    images = REPO_ROOT / "artifacts/data/synthetic_dense/images"
    (data / "images").symlink_to(images)
    fusion = tmp_path / "my/fusion/data.yaml"
    fusion.write_text(f"extends: {FUSION}\ntargets:\n  - name: synthetic_dense\n    train_jsonl: {data}/train.jsonl\n"
                      f"    val_jsonl: {data}/val.jsonl\n")
    run_dir = outside / "runs" / "data"
    write_run_dir(outside / "my/presets/abs.yaml", run_dir, [f"custom.fusion_config={fusion}"])
    lines = (data / "train.jsonl").read_text().splitlines(keepends=True)
    (data / "train.jsonl").write_text("".join(lines[:-1]))
    (difference,) = reproduce(run_dir).differences
    assert difference.startswith("data synthetic_dense/train") and "records 64 -> 63" in difference
