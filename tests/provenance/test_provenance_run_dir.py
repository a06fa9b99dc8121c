"""(c) A run directory is never silently reused; --resume / --allow-existing-run-dir are explicit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from provenance_helpers import command, run_env, tree_fingerprint

from src.provenance.rundir import (
    PREVIOUS_DIR,
    RunDirError,
    archive_previous_run,
    last_checkpoint,
    plan_run_dir,
    scan_run_dir,
)


@pytest.mark.slow
def test_reusing_a_finished_run_dir_fails_clearly_and_touches_nothing(reference_run, repo_root):
    before = tree_fingerprint(reference_run.out)
    mtimes = {p: p.lstat().st_mtime_ns for p in reference_run.out.rglob("*")}
    proc = subprocess.run(command(reference_run.out), cwd=repo_root, env=run_env(), capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    message = proc.stderr.strip()
    assert message.startswith("error: The run directory") and message.count("\n") == 0  # one paragraph
    for needle in (str(reference_run.out), "run_manifest.json", "checkpoint-6", "--resume",
                   "--allow-existing-run-dir", "training.output_dir=", "no file was touched", "completed"):
        assert needle in message, needle
    assert tree_fingerprint(reference_run.out) == before
    assert {p: p.lstat().st_mtime_ns for p in reference_run.out.rglob("*")} == mtimes


def test_the_guard_imports_nothing_heavy(tmp_path, repo_root):
    (tmp_path / "run" / "checkpoint-2").mkdir(parents=True)
    (tmp_path / "run" / "checkpoint-2" / "trainer_state.json").write_text("{}")
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *command(tmp_path / "run")[1:]],
        cwd=repo_root, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 2 and "checkpoint-2" in proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert not {"torch", "transformers", "swift"} & imported


def _checkpoint(run: Path, step: int, complete: bool = True) -> Path:
    path = run / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if complete:
        (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return path


def test_what_counts_as_a_used_run_dir(tmp_path):
    run = tmp_path / "run"
    assert plan_run_dir(run, resume=False, allow_existing=False).resume_from is None  # does not exist yet
    run.mkdir()
    (run / "notes.txt").write_text("x")  # unrelated files do not make a run directory
    assert not scan_run_dir(run).used
    _checkpoint(run, 5, complete=False)  # even an incomplete checkpoint does
    with pytest.raises(RunDirError, match="incomplete checkpoint"):
        plan_run_dir(run, resume=False, allow_existing=False)
    with pytest.raises(RunDirError, match="no complete checkpoint"):
        plan_run_dir(run, resume=True, allow_existing=False)


def test_resume_picks_the_last_complete_checkpoint(tmp_path):
    run = tmp_path / "run"
    _checkpoint(run, 10)
    _checkpoint(run, 20)
    _checkpoint(run, 30, complete=False)  # killed while saving
    assert plan_run_dir(run, resume=True, allow_existing=False).resume_from == run / "checkpoint-20"
    os.symlink("checkpoint-10", run / "last-checkpoint")  # ms-swift's link wins when it names a complete one
    assert last_checkpoint(scan_run_dir(run)) == run / "checkpoint-10"
    with pytest.raises(RunDirError, match="contradict"):
        plan_run_dir(run, resume=True, allow_existing=True)


def test_resume_by_config_key_into_another_used_dir_needs_the_flag(tmp_path):
    elsewhere = _checkpoint(tmp_path / "old", 4)
    run = tmp_path / "run"
    assert plan_run_dir(run, resume=False, allow_existing=False, checkpoint=elsewhere).resume_from == elsewhere
    _checkpoint(run, 2)
    with pytest.raises(RunDirError, match="another run"):
        plan_run_dir(run, resume=False, allow_existing=False, checkpoint=elsewhere)
    plan = plan_run_dir(run, resume=False, allow_existing=True, checkpoint=elsewhere)
    assert plan.archive_previous and plan.resume_from == elsewhere
    inside = plan_run_dir(run, resume=False, allow_existing=False, checkpoint=run / "checkpoint-2")
    assert not inside.archive_previous
    with pytest.raises(RunDirError, match="not a complete checkpoint"):
        plan_run_dir(run, resume=False, allow_existing=False, checkpoint=tmp_path / "missing")


def test_allow_existing_moves_the_previous_run_aside_and_loses_nothing(tmp_path):
    run = tmp_path / "run"
    _checkpoint(run, 3)
    (run / "run_manifest.json").write_text('{"status": {"state": "failed", "global_step": 3}}')
    (run / "config").mkdir()
    (run / "config" / "a.yaml").write_text("a: 1\n")
    os.symlink("checkpoint-3", run / "last-checkpoint")
    before = tree_fingerprint(run)
    plan = plan_run_dir(run, resume=False, allow_existing=True)
    assert plan.archive_previous and plan.resume_from is None
    moved = archive_previous_run(run)
    assert moved is not None and moved.parent == run / PREVIOUS_DIR
    assert [p.name for p in run.iterdir()] == [PREVIOUS_DIR]
    assert tree_fingerprint(moved) == before
    assert not scan_run_dir(run).used  # the new run starts clean; a later --resume cannot pick old checkpoints
