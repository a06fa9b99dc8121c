"""GRPO end to end: `python -m src.sft` runs HF rollouts, rewards and policy updates on CPU."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

DENSE_REWARDS = ("dense_format", "dense_parse", "dense_loc_fbeta", "dense_cat_f1")


@pytest.fixture(scope="module")
def grpo_run(tmp_path_factory, repo_root, tiny_model_dir, synthetic_data_dir):
    out = tmp_path_factory.mktemp("grpo") / "run"
    cmd = [sys.executable, "-m", "src.sft", "--config", "configs/smoke/grpo_dense_tiny.yaml",
           f"training.output_dir={out}", f"training.logging_dir={out}/tb"]
    proc = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "reward" in r and "global_step/max_steps" in r]
    completions = [json.loads(line) for line in (out / "completions.jsonl").read_text().splitlines()]
    return steps, completions


def test_grpo_trains_at_least_three_steps_and_logs_every_reward(grpo_run):
    steps, _ = grpo_run
    assert len(steps) >= 3
    for r in steps:
        assert math.isfinite(r["loss"]) and math.isfinite(r["reward"])
        for name in (*DENSE_REWARDS, "RepetitionPenalty"):
            assert math.isfinite(r[f"rewards/{name}/mean"]), name


def test_rewards_differ_between_completions_so_advantages_are_not_zero(grpo_run):
    steps, completions = grpo_run
    assert any(r["reward_std"] > 0 for r in steps)
    assert any(r["frac_reward_zero_std"] < 1 for r in steps)
    by_step = {c["step"][0]: c for c in completions}  # one prompt x num_generations per step
    assert len(by_step) >= 3
    assert any(len(set(c["RepetitionPenalty"])) > 1 for c in by_step.values())
    assert any(abs(a) > 1e-3 for c in by_step.values() for a in c["advantages"])
    for c in by_step.values():
        for name in DENSE_REWARDS:  # computed from the rows' ground truth on every completion
            assert len(c[name]) == len(c["completion"]) and all(0.0 <= v <= 1.0 for v in c[name])
