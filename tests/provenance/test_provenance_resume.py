"""(b) Kill test: a run killed with SIGKILL after a checkpoint and resumed with --resume reproduces
the uninterrupted run's per-step losses exactly (CPU, same seed), with the same data."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from provenance_helpers import (
    BATCH,
    MAX_STEPS,
    SAVE_STEPS,
    command,
    logged_rows,
    run_env,
    run_until_checkpoint,
    step_history,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def resumed(tmp_path_factory, repo_root, reference_run):
    out = tmp_path_factory.mktemp("provenance") / "killed"
    killed_rc, killed = run_until_checkpoint(command(out), out, f"checkpoint-{SAVE_STEPS}", repo_root)
    start = time.monotonic()
    again = subprocess.run(command(out, "--resume"), cwd=repo_root, env=run_env(), capture_output=True, text=True,
                           timeout=900, check=False)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    return {"out": out, "killed_rc": killed_rc, "killed": killed, "seconds": time.monotonic() - start}


def _history(out: Path) -> dict[int, dict]:
    return step_history(out, MAX_STEPS)


def _logged(out: Path) -> dict[int, float]:
    return {step: row["loss"] for step, row in logged_rows(out).items()}


def test_the_run_was_killed_after_the_checkpoint(resumed):
    assert resumed["killed_rc"] == -signal.SIGKILL
    status = resumed["killed"]["status"]
    assert status["state"] == "running" and status["global_step"] >= SAVE_STEPS  # SIGKILL cannot be recorded


def test_resumed_losses_equal_the_uninterrupted_run_exactly(resumed, reference_run):
    ref, res = _history(reference_run.out), _history(resumed["out"])
    assert sorted(res) == sorted(ref) == list(range(1, MAX_STEPS + 1))
    for step in range(SAVE_STEPS + 1, MAX_STEPS + 1):
        assert res[step]["loss"] == ref[step]["loss"], step  # exact, not approximate
        assert res[step]["grad_norm"] == ref[step]["grad_norm"], step
        assert res[step]["token_acc"] == ref[step]["token_acc"], step
    ref_log, res_log = _logged(reference_run.out), _logged(resumed["out"])
    assert [res_log[s] for s in range(SAVE_STEPS + 1, MAX_STEPS + 1)] == [
        ref_log[s] for s in range(SAVE_STEPS + 1, MAX_STEPS + 1)]


def test_the_manifest_records_the_resume_and_the_same_data(resumed, reference_run):
    manifest = json.loads((resumed["out"] / "run_manifest.json").read_text())
    reference = json.loads((reference_run.out / "run_manifest.json").read_text())
    assert manifest["status"]["state"] == "completed" and manifest["status"]["global_step"] == MAX_STEPS
    (resume,) = manifest["resumes"]
    assert resume["checkpoint"] == f"checkpoint-{SAVE_STEPS}" and resume["global_step"] == SAVE_STEPS
    assert resume["argv"][-1] == "--resume" and resume["config_changes"] == []
    assert resume["version_changes"] == {} and resume["expected_counts_changed"] is False
    assert resume["realized_counts_base"] == {"synthetic_dense": SAVE_STEPS * BATCH}
    # The original launch stays recorded; the resume is appended.
    assert manifest["command"]["flags"]["resume"] is False and manifest["created_at_step"] == 0
    # Same samples per dataset and same schedule position (epoch) at each save as the uninterrupted run.
    assert manifest["realized_counts"]["per_dataset"] == reference["realized_counts"]["per_dataset"]
    assert manifest["realized_counts"]["cumulative"] is True
    strip = [{k: c[k] for k in ("name", "epoch", "realized_counts")} for c in manifest["checkpoints"]]
    assert strip == [{k: c[k] for k in ("name", "epoch", "realized_counts")} for c in reference["checkpoints"]]
