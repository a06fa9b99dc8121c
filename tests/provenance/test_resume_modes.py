"""Exact resume in every RL / stage-2 mode: a GKD, GRPO (HF rollouts) or stage2_ab smoke run killed
with SIGKILL right after its first checkpoint and resumed with --resume logs the same values at every
later step as the uninterrupted run: losses, grad norms, GKD's per-step on/off-policy choice, GRPO's
rewards and sampled completions, stage2_ab's channel choice and Channel-B counters.

Bit-identity holds on CPU (single process, same seed): the checkpoint carries the Python, NumPy and
torch RNG states (the GKD channel draw, the rollout sampling) and the data order is a pure function of
the step; stage2_ab's rollout seeds are derived from (seed, step, rank, micro-batch). So the
comparison is exact; only timing and throughput values are left out.

Written against the smoke presets through overrides (3 steps, a checkpoint every step, the 4-record
fusion selection), so they survive changes of the presets' models. About 1.5-2 min per mode on 2 idle
cores (three short runs each).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from provenance_helpers import logged_rows, mode_command, run_env, run_until_checkpoint, step_history

pytestmark = pytest.mark.slow

MAX_STEPS, SAVE_STEPS = 3, 1
# mode -> (smoke preset, values every training row must log)
MODES = {
    "gkd": ("configs/smoke/gkd_tiny.yaml", ("loss", "grad_norm", "gkd/kd_loss", "gkd/on_policy")),
    "grpo": ("configs/smoke/grpo_dense_tiny.yaml", ("loss", "grad_norm", "reward")),
    "stage2_ab": ("configs/smoke/stage2_ab_tiny.yaml", ("loss", "grad_norm", "stage2_ab/b_ratio_realized")),
}
TIMING = re.compile(r"time|elapsed|memory|speed|remaining|second|per_s|/s$")


@pytest.fixture(scope="module", params=sorted(MODES))
def runs(request, tmp_path_factory, repo_root, tiny_model_dir, synthetic_data_dir, warm_model_dir,
         warm_coord_model_dir):
    mode = request.param
    config = MODES[mode][0]
    root = tmp_path_factory.mktemp(f"resume_{mode}")
    start = time.monotonic()
    ref = subprocess.run(mode_command(config, root / "ref", MAX_STEPS, SAVE_STEPS), cwd=repo_root, env=run_env(),
                         capture_output=True, text=True, timeout=900, check=False)
    assert ref.returncode == 0, ref.stdout[-3000:] + ref.stderr[-3000:]
    out = root / "killed"
    killed_rc, killed = run_until_checkpoint(mode_command(config, out, MAX_STEPS, SAVE_STEPS), out,
                                             f"checkpoint-{SAVE_STEPS}", repo_root)
    again = subprocess.run(mode_command(config, out, MAX_STEPS, SAVE_STEPS, "--resume"), cwd=repo_root,
                           env=run_env(), capture_output=True, text=True, timeout=900, check=False)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    seconds = time.monotonic() - start
    print(f"\n{mode}: reference + killed + resumed runs took {seconds:.0f} s")
    return {"mode": mode, "ref": root / "ref", "out": out, "killed_rc": killed_rc, "killed": killed}


def _values(row: dict) -> dict:
    return {k: v for k, v in row.items() if not TIMING.search(k)}


def test_the_run_was_killed_before_it_finished(runs):
    assert runs["killed_rc"] == -signal.SIGKILL
    status = runs["killed"]["status"]
    assert status["state"] == "running" and SAVE_STEPS <= status["global_step"] < MAX_STEPS


def test_every_logged_value_after_the_resume_equals_the_uninterrupted_run(runs):
    resumed_at = json.loads((runs["out"] / "run_manifest.json").read_text())["resumes"][0]["global_step"]
    assert SAVE_STEPS <= resumed_at < MAX_STEPS
    ref, res = logged_rows(runs["ref"]), logged_rows(runs["out"])
    assert sorted(ref) == sorted(res) == list(range(1, MAX_STEPS + 1))
    required = MODES[runs["mode"]][1]
    for step in range(resumed_at + 1, MAX_STEPS + 1):
        assert set(required) <= set(res[step]), (step, sorted(res[step]))
        assert _values(res[step]) == _values(ref[step]), step  # exact, every non-timing value
    ref_state, res_state = step_history(runs["ref"], MAX_STEPS), step_history(runs["out"], MAX_STEPS)
    assert [_values(ref_state[s]) for s in sorted(ref_state)] == [_values(res_state[s]) for s in sorted(res_state)]


def _completions(out: Path) -> dict[int, dict]:
    """completions.jsonl (one table of lists per log: step, prompt, completion, each reward, advantages)
    by step; a resumed run appends, so the last table of a step wins."""
    tables = [json.loads(line) for line in (out / "completions.jsonl").read_text().splitlines()]
    return {int(t["step"][0]): t for t in tables if t.get("step")}


def test_grpo_rollouts_after_the_resume_are_the_same_samples(runs):
    if runs["mode"] != "grpo":
        pytest.skip("GRPO only: the sampled completions and their per-function rewards")
    resumed_at = json.loads((runs["out"] / "run_manifest.json").read_text())["resumes"][0]["global_step"]
    ref, res = _completions(runs["ref"]), _completions(runs["out"])
    later = [s for s in sorted(ref) if s > resumed_at]
    assert later, sorted(ref)
    for step in later:
        assert res[step]["completion"] and res[step] == ref[step], step  # same prompts, samples, rewards
