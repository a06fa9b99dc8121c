"""A resume keeps the run's promises (on copies of the shared reference run, which completed 6/6 with
save_total_limit 1): resuming a finished run trains nothing and touches no file; a changed config stops
before the model loads; extending the run is an explicit, recorded act that says which earlier checkpoint
the rotation deleted. Also what the console shows of a smoke run (the reference run's own output)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from provenance_helpers import MAX_STEPS, command, run_env, tree_fingerprint

pytestmark = pytest.mark.slow


@pytest.fixture
def finished(reference_run, tmp_path) -> Path:
    """A copy of the finished reference run in another directory (a moved run directory)."""
    dest = tmp_path / "run"
    shutil.copytree(reference_run.out, dest, symlinks=True)
    return dest


def _launch(out: Path, repo_root: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(command(out, *extra), cwd=repo_root, env=run_env(), capture_output=True, text=True,
                          timeout=900, check=False)


def test_resuming_a_finished_run_trains_nothing_and_touches_nothing(finished, repo_root):
    before = tree_fingerprint(finished)
    proc = _launch(finished, repo_root, "--resume")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"nothing to resume: the run in {finished} is finished (its manifest says it completed at step " \
           f"{MAX_STEPS})" in proc.stdout
    assert "--allow-config-change training.max_steps" in proc.stdout and "Traceback" not in proc.stderr
    assert tree_fingerprint(finished) == before  # no step 7, checkpoint-6 kept, manifest untouched


def test_resuming_with_a_changed_config_stops_before_the_model_loads(finished, repo_root):
    before = tree_fingerprint(finished)
    proc = _launch(finished, repo_root, "training.save_steps=2", "training.dataloader_num_workers=1",
                   "training.report_to=[none]", "--resume")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    err = proc.stderr
    assert "differs from the recorded run in 2 setting(s) that change training" in err
    assert ("training.save_steps: recorded 3 (from override:training.save_steps=3), now 2 "
            "(from override:training.save_steps=2)") in err
    assert 'training.report_to[0]: recorded "tensorboard" (from configs/smoke/sft_dense_tiny.yaml:' in err
    assert "Harmless differences (allowed): training.dataloader_num_workers" in err
    assert "--allow-config-change training.report_to[0],training.save_steps" in err
    assert "Loading model" not in proc.stdout + err  # stopped before anything heavy
    assert tree_fingerprint(finished) == before


def test_extending_a_finished_run_is_explicit_recorded_and_reports_the_rotated_checkpoint(finished, repo_root):
    proc = _launch(finished, repo_root, "training.max_steps=7", "--resume", "--allow-config-change",
                   "training.max_steps")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "resume: extending the finished run" in out
    assert "checkpoint-6, saved before this resume, was deleted by the checkpoint rotation" in out
    # transformers' missing lm_head warning (tied embeddings) is replaced by one line that says why
    assert "missing keys" not in out and "ties it to the input embeddings" in out
    manifest = json.loads((finished / "run_manifest.json").read_text())
    resume = manifest["resumes"][-1]
    check = resume["config_check"]
    assert check["allowed"] == ["training.max_steps"] and check["extends_finished_run"] is True
    relevant = [d for d in check["differences"] if d["harmless"] is None]
    assert relevant == [{"key": "training.max_steps", "recorded": 6, "new": 7, "harmless": None,
                         "recorded_from": "override:training.max_steps=6",
                         "new_from": "override:training.max_steps=7"}]
    assert resume["recorded_state"]["resolved"]["training"]["max_steps"] == 7  # later resumes compare with 7
    names = {c["name"]: c for c in manifest["checkpoints"]}
    assert names["checkpoint-6"]["removed_at"] and "removed_at" not in names["checkpoint-7"]
    assert manifest["status"]["state"] == "completed" and manifest["status"]["global_step"] == 7
    rows = [json.loads(line) for line in (finished / "logging.jsonl").read_text().splitlines()]
    progress = [r["global_step/max_steps"] for r in rows if "global_step/max_steps" in r]
    assert progress[-2:] == ["7/7", "7/7"] and "7/6" not in progress  # the step row, then the summary


def test_the_console_of_a_smoke_run_is_short_and_says_where_things_are(reference_run):
    out = reference_run.proc.stdout + reference_run.proc.stderr
    lines = out.count("\n")
    assert lines < 80, out
    run_dir = reference_run.out
    assert f"run directory {run_dir}: a new run" in out
    assert "data: 4 train samples per epoch (synthetic_dense 4), 16 eval samples" in out
    assert f"done at step {MAX_STEPS}: final checkpoint {run_dir}/checkpoint-{MAX_STEPS}" in out
    assert "SftArguments(" not in out and "decord" not in out
    assert "Train:" not in out  # progress bars only on a terminal (captured here)
    assert list((run_dir / "tb").rglob("events.out.tfevents.*"))  # the smoke preset writes TensorBoard events
    assert f"TensorBoard events in {run_dir}/tb" in out
    full = (run_dir / "logs/train.log").read_text()
    assert "args: SftArguments(" in full and "decord" in full  # nothing lost: the full log keeps them
    print(f"\nconsole lines of the smoke run: {lines}")
