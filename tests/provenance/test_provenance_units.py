"""Fast unit tests of the provenance pieces (no training)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from provenance_helpers import SMOKE_CONFIG

from src.config import load_training_config
from src.provenance import atomic
from src.provenance.atomic import atomic_write_json, read_json
from src.provenance.configcopy import copy_relpath, original_display
from src.provenance.datafiles import fingerprint_jsonl
from src.provenance.probes import environment, git_state, is_secret_name, package_versions
from src.provenance.rollout import ROLLOUT_SERVER_ENV, rollout_server_record
from src.provenance.rundir import RunPlan
from src.provenance.session import RunInterrupted, RunSession


def test_atomic_write_replaces_whole_files_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "m.json"
    atomic_write_json(target, {"b": 1, "a": [1, 2]})
    assert read_json(target) == {"a": [1, 2], "b": 1}
    assert target.read_text().index('"a"') < target.read_text().index('"b"')  # key-sorted

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_json(target, {"new": True})
    assert read_json(target) == {"a": [1, 2], "b": 1}  # the old content survives a failed write
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_environment_is_an_allowlist_and_never_holds_secrets(monkeypatch):
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.setenv("HF_TOKEN", "hf_x")
    monkeypatch.setenv("MY_RANDOM_VAR", "1")
    env = environment()
    assert env["MASTER_PORT"] == "29500" and "HF_TOKEN" not in env and "MY_RANDOM_VAR" not in env
    assert environment(("HF_TOKEN", "MASTER_PORT")) == {"MASTER_PORT": "29500"}  # secret words veto
    assert [is_secret_name(n) for n in ("TOKENIZERS_PARALLELISM", "WANDB_API_KEY", "AWS_SECRET_ACCESS_KEY")] == [
        False, True, True]


def test_versions_are_null_for_missing_packages():
    versions = package_versions(("transformers", "surely-not-installed-pkg"))
    assert versions["surely-not-installed-pkg"] is None and versions["transformers"]


def test_git_state_outside_a_repo_and_in_a_fresh_one(tmp_path):
    outside = git_state(tmp_path)
    assert outside["sha"] is None and outside["dirty"] is None and "not a git checkout" in outside["reason"]
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)
    (repo / "f.txt").write_text("x")
    state = git_state(repo)
    assert len(state["sha"]) == 40 and state["dirty"] is False and state["untracked"] == 1
    subprocess.run(["git", "-C", str(repo), "add", "f.txt"], check=True, capture_output=True)
    assert git_state(repo)["dirty"] is True


def test_jsonl_fingerprint_counts_records_like_the_index(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"a": 2}\r\n\r\n{"a": 3}')
    fp = fingerprint_jsonl(path)
    assert fp["records"] == 3 and fp["size"] == len(path.read_bytes())


def test_copy_paths_mirror_the_repository():
    assert copy_relpath("configs/smoke/x.yaml") == "configs/smoke/x.yaml"
    assert copy_relpath("/home/u/exp.yaml") == "_external/home/u/exp.yaml"
    assert original_display("_external/home/u/exp.yaml") == "/home/u/exp.yaml"
    assert original_display("configs/base.yaml") == "configs/base.yaml"


def _session(tmp_path: Path) -> RunSession:
    cfg = load_training_config(SMOKE_CONFIG, [f"training.output_dir={tmp_path}"])
    session = RunSession(cfg, RunPlan(tmp_path, None, False), argv=["x"], overrides=[], flags={})
    session.manifest = {"status": {}}
    session.global_step = 7
    return session


def test_track_records_failures_with_their_type(tmp_path):
    session = _session(tmp_path)
    with pytest.raises(ValueError), session.track():
        raise ValueError("boom\nsecond line")
    status = read_json(tmp_path / "run_manifest.json")["status"]
    assert status["state"] == "failed" and status["error_type"] == "builtins.ValueError"
    assert status["error"] == "boom" and status["global_step"] == 7


def test_track_turns_sigterm_into_an_interrupted_status(tmp_path):
    session = _session(tmp_path)
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RunInterrupted) as info, session.track():
        os.kill(os.getpid(), signal.SIGTERM)  # the handler raises at the next bytecode
    assert info.value.exit_code == 128 + signal.SIGTERM
    status = read_json(tmp_path / "run_manifest.json")["status"]
    assert status == {**status, "state": "interrupted", "signal": "SIGTERM", "error_type": None}
    assert signal.getsignal(signal.SIGTERM) is previous  # restored after training


def test_track_records_completion_only_once_training_began(tmp_path):
    session = _session(tmp_path)
    session.manifest = None  # failed before the trainer started: nothing to update, nothing written
    with pytest.raises(RuntimeError), session.track():
        raise RuntimeError("model load failed")
    assert not (tmp_path / "run_manifest.json").exists()
    session.manifest = {"status": {}}
    with session.track():
        pass
    assert read_json(tmp_path / "run_manifest.json")["status"]["state"] == "completed"


def test_rollout_server_record_contract(tmp_path, monkeypatch):
    sft = load_training_config(SMOKE_CONFIG)
    assert rollout_server_record(sft, tmp_path) is None
    server = SimpleNamespace(rlhf={"use_vllm": True, "vllm_mode": "server"}, rollout_matching=None)
    missing = rollout_server_record(server, tmp_path)
    assert missing["flags"] is None and "rollout_server.json" in missing["error"]
    (tmp_path / "rollout_server.json").write_text(json.dumps({"dtype": "bfloat16", "tensor_parallel_size": 1}))
    assert rollout_server_record(server, tmp_path)["flags"] == {"dtype": "bfloat16", "tensor_parallel_size": 1}
    other = tmp_path / "elsewhere.json"
    other.write_text(json.dumps({"max_model_len": 4096}))
    monkeypatch.setenv(ROLLOUT_SERVER_ENV, str(other))
    assert rollout_server_record(server, tmp_path) == {"source": str(other), "flags": {"max_model_len": 4096}}


def test_schedule_check_and_progress_semantics():
    from src.provenance.callback import ProvenanceCallback, ScheduleMismatch, update_steps_per_epoch
    from src.trainers.callbacks import FusionScheduleCallback

    assert update_steps_per_epoch(list(range(5)), 2) == 3 and update_steps_per_epoch(iter([]), 1) is None
    dataset = SimpleNamespace(epoch=1, progress=None)
    callback = ProvenanceCallback(session=None, dataset=dataset)
    args = SimpleNamespace(gradient_accumulation_steps=1)
    callback.on_step_begin(args, SimpleNamespace(global_step=3), None, train_dataloader=[0, 1])  # epoch 1: ok
    with pytest.raises(ScheduleMismatch, match="epoch 1's schedule at global step 4"):
        callback.on_step_begin(args, SimpleNamespace(global_step=4), None, train_dataloader=[0, 1])

    seen = []
    fusion = SimpleNamespace(set_progress=lambda step, total: seen.append((step, total)), set_epoch=None)
    schedule = FusionScheduleCallback(fusion)
    schedule.on_train_begin(args, SimpleNamespace(global_step=3, max_steps=6), None)  # a resume at step 3
    schedule.on_step_end(args, SimpleNamespace(global_step=4, max_steps=6), None)
    assert seen == [(3, 6), (4, 6)]  # the first batch after resuming sees the same progress as before
