"""SIGTERM end to end: a smoke SFT run stopped with SIGTERM after a checkpoint exits 143 (128 + 15),
records `interrupted` (signal SIGTERM, the step reached) in its manifest, and `--resume` completes it
with the uninterrupted run's losses (the session's reference run)."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest
from provenance_helpers import MAX_STEPS, SAVE_STEPS, command, logged_rows, run_env, run_until_checkpoint

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stopped(tmp_path_factory, repo_root, reference_run):
    out = tmp_path_factory.mktemp("provenance") / "sigterm"
    rc, _ = run_until_checkpoint(command(out), out, f"checkpoint-{SAVE_STEPS}", repo_root, sig=signal.SIGTERM)
    manifest = json.loads((out / "run_manifest.json").read_text())  # as the interrupted process left it
    log = (out.parent / "sigterm.log").read_text()
    again = subprocess.run(command(out, "--resume"), cwd=repo_root, env=run_env(), capture_output=True, text=True,
                           timeout=900, check=False)
    return {"out": out, "rc": rc, "manifest": manifest, "log": log, "again": again}


def test_sigterm_exits_143_and_the_manifest_says_interrupted(stopped):
    assert stopped["rc"] == 128 + signal.SIGTERM, stopped["log"][-3000:]
    status = stopped["manifest"]["status"]
    assert status["state"] == "interrupted" and status["signal"] == "SIGTERM"
    assert SAVE_STEPS <= status["global_step"] < MAX_STEPS
    assert "continue with --resume" in stopped["log"] and "Traceback" not in stopped["log"]


def test_resume_after_sigterm_completes_with_the_reference_losses(stopped, reference_run):
    again = stopped["again"]
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    manifest = json.loads((stopped["out"] / "run_manifest.json").read_text())
    assert manifest["status"]["state"] == "completed" and manifest["status"]["global_step"] == MAX_STEPS
    (resume,) = manifest["resumes"]
    ref, res = logged_rows(reference_run.out), logged_rows(stopped["out"])
    for step in range(resume["global_step"] + 1, MAX_STEPS + 1):
        assert res[step]["loss"] == ref[step]["loss"], step
