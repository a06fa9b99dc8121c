"""The main job end to end: `python -m src.sft` on the smoke preset trains the tiny model for real."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, repo_root, tiny_model_dir, synthetic_data_dir):
    out = tmp_path_factory.mktemp("smoke") / "run"
    cmd = [
        sys.executable, "-m", "src.sft", "--config", "configs/smoke/sft_dense_tiny.yaml",
        f"training.output_dir={out}", f"training.logging_dir={out}/tb", "custom.dump_conversation_text=true",
    ]
    proc = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc


def test_smoke_sft_dumps_the_first_conversations(smoke_run):
    """custom.dump_conversation_text: the first samples as the template encodes them, image pads
    shortened, and the supervised part is exactly the assistant's JSON answer and the turn end."""
    out, _ = smoke_run
    text = (out / "conversation_text.txt").read_text(encoding="utf-8")
    blocks = text.split("===== sample ")[1:]
    assert len(blocks) == 4
    first, supervised = blocks[0].split("----- supervised tokens -----\n")
    assert "(dataset synthetic_dense," in first
    assert "<|vision_start|><|image_pad|>x" in first and "<|image_pad|><|image_pad|>" not in first
    assert "Detect every object in the image." in first
    assert supervised.startswith('{"objects": [') and supervised.rstrip("\n").endswith("<|im_end|>")
    assert "user" not in supervised and "Detect" not in supervised


def test_smoke_sft_logs_finite_losses_for_every_step(smoke_run):
    out, _ = smoke_run
    lines = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    steps = [row for row in lines if "loss" in row and "global_step/max_steps" in row]
    assert len(steps) >= 5
    assert [row["global_step/max_steps"] for row in steps] == [f"{i}/6" for i in range(1, 7)]
    assert all(math.isfinite(row["loss"]) for row in steps)
    # Random weights over the real vocabulary start near ln(vocab size).
    assert abs(steps[0]["loss"] - math.log(151680)) < 1.0


def test_smoke_sft_writes_a_loadable_checkpoint(smoke_run):
    out, _ = smoke_run
    ckpt = out / "checkpoint-6"
    assert (ckpt / "model.safetensors").is_file() and (ckpt / "trainer_state.json").is_file()
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(ckpt).convert_tokens_to_ids("<|image_pad|>") == 151655


def test_config_mistake_fails_before_anything_heavy(repo_root, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"extends: {repo_root}/configs/smoke/sft_dense_tiny.yaml\ntraining:\n  learning_rat: 1.0e-4\n")
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "src.sft", "--config", str(bad)],
        cwd=repo_root, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "training.learning_rat" in proc.stderr and "learning_rate" in proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert not {"torch", "transformers", "swift"} & imported


def test_template_drift_stops_the_run_before_training(repo_root, tmp_path, tiny_model_dir, synthetic_data_dir):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "src.sft", "--config", "configs/smoke/sft_dense_tiny.yaml",
           f"training.output_dir={out}", f"training.logging_dir={out}/tb",
           "custom.template_fingerprint=0123456789abcdef"]  # a pin from a run whose template rendered otherwise
    proc = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert ("error: template/tokenizer drift for model" in proc.stderr
            and "custom.template_fingerprint pins 0123456789abcdef" in proc.stderr)
    assert not (out / "run_manifest.json").exists() and not list(out.glob("checkpoint-*"))
