"""`custom.overlong` end to end: `error` stops `python -m src.sft` before the model loads; `drop` (SFT) and
`fit_objects` (stage2_ab) train, and what they did is in the run manifest and the log."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _run(repo_root, tmp_path, config, *overrides):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "src.sft", "--config", config, f"training.output_dir={out}",
           f"training.logging_dir={out}/tb", *overrides]
    env = {**os.environ, "VLM_PREFLIGHT_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=600, check=False, env=env)
    return out, proc


def test_global_max_length_230_stops_before_the_model_loads(repo_root, tmp_path, tiny_model_dir, synthetic_data_dir):
    """It used to stop at step 3 with ms-swift's MaxLengthError traceback."""
    out, proc = _run(repo_root, tmp_path, "configs/smoke/sft_dense_tiny.yaml", "global_max_length=230")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "MaxLengthError" not in proc.stderr
    assert "records are longer than the run's token budget (global_max_length 230)" in proc.stderr
    assert "synthetic_dense/train.jsonl:7: 276 tokens (limit 230), 5 objects, 3 fit" in proc.stderr
    assert "Raise global_max_length to 307" in proc.stderr
    assert "dispatching sft run" not in proc.stderr  # stopped before the trainer (and its model) was reached
    assert not (out / "run_manifest.json").exists()


@pytest.mark.slow
def test_drop_trains_without_the_over_long_records(repo_root, tmp_path, tiny_model_dir, synthetic_data_dir):
    out, proc = _run(repo_root, tmp_path, "configs/smoke/sft_dense_tiny.yaml", "global_max_length=280",
                     "custom.overlong=drop", "training.max_steps=2", "training.save_steps=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    datasets = json.loads((out / "run_manifest.json").read_text())["datasets"]
    counts = datasets["overlong"]["entries"]["synthetic_dense"]
    assert datasets["overlong"]["policy"] == "drop"
    assert counts["train"]["dropped_records"] == counts["train"]["over_budget"] == 5  # 276..307 tokens
    assert datasets["epoch_length"] == datasets["expected_counts"]["synthetic_dense"] == 64 - 5
    assert counts["val"]["dropped_records"] == counts["val"]["over_budget"] == 3
    assert "custom.overlong=drop: synthetic_dense (train): records 64, over_budget 5, dropped_records 5" in proc.stderr


@pytest.mark.slow
def test_fit_objects_trains_stage2_ab_on_the_objects_that_fit(repo_root, tmp_path, warm_coord_model_dir):
    out, proc = _run(repo_root, tmp_path, "configs/smoke/stage2_ab_tiny.yaml", "rollout_matching.max_new_tokens=40",
                     "custom.overlong=fit_objects", "training.max_steps=2", "training.save_steps=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / "run_manifest.json").read_text())
    train = manifest["datasets"]["overlong"]["entries"]["synthetic_easy_rl"]["train"]
    assert train["records_cut"] == train["over_budget"] == train["dropped_objects"] == 5  # 2 objects -> 1
    assert train["dropped_records"] == 0 and manifest["datasets"]["epoch_length"] == 16
    assert "custom.overlong=fit_objects: synthetic_easy_rl (train)" in proc.stderr
    assert manifest["status"]["state"] == "completed"
