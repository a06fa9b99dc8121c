"""The resume checks before anything heavy loads (src/provenance/resume.py): which differences from the
recorded run stop a resume, which are harmless, what --allow-config-change accepts, when a run is
finished. Pure functions on configs resolved from the smoke preset (no training)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from provenance_helpers import SMOKE_CONFIG

from src.config import load_training_config
from src.provenance.resume import (
    HARMLESS_KEYS,
    check_differences,
    config_differences,
    current_state,
    finished_at,
)
from src.provenance.rundir import RunDirError

RUN = ["training.output_dir=/runs/a", "training.logging_dir=/runs/a/tb"]


def _differences(recorded: list[str], now: list[str]):
    before = load_training_config(SMOKE_CONFIG, recorded)
    cfg = load_training_config(SMOKE_CONFIG, now)
    return config_differences(current_state(before, recorded), cfg, current_state(cfg, now))


def test_a_training_difference_names_both_values_and_their_origins():
    (diff,) = _differences(RUN, [*RUN, "training.save_steps=2"])
    assert diff.key == "training.save_steps" and diff.harmless is None
    assert diff.render() == ("training.save_steps: recorded 6 (from configs/smoke/sft_dense_tiny.yaml:40), now 2 "
                             "(from override:training.save_steps=2)")


def test_logging_targets_are_training_relevant_but_the_moved_run_directory_is_not():
    diffs = {d.key: d for d in _differences(RUN, ["training.output_dir=/elsewhere/a",
                                                  "training.logging_dir=/elsewhere/a/tb"])}
    assert set(diffs) == {"training.output_dir", "training.logging_dir"}
    assert all(d.harmless for d in diffs.values())  # the same run directory, moved
    diffs = {d.key: d for d in _differences(RUN, [*RUN, "training.logging_dir=/tb_elsewhere",
                                                  "training.report_to=[none]"])}
    assert diffs["training.logging_dir"].harmless is None and diffs["training.report_to[0]"].harmless is None


def test_harmless_keys_are_allowed_and_listed_in_a_refusal():
    diffs = _differences(RUN, [*RUN, "training.dataloader_num_workers=2", "training.learning_rate=0.5"])
    assert {d.key: d.harmless for d in diffs} == {
        "training.dataloader_num_workers": HARMLESS_KEYS["training.dataloader_num_workers"],
        "training.learning_rate": None}
    with pytest.raises(RunDirError) as err:
        check_differences(diffs, [], Path("/runs/a"), RUN)
    text = str(err.value)
    assert "1 setting(s) that change training" in text and "training.learning_rate: recorded 0.001" in text
    assert "Harmless differences (allowed): training.dataloader_num_workers" in text
    assert "--allow-config-change training.learning_rate" in text and "(training.output_dir=/runs/a" in text
    check_differences(diffs, ["training.learning_rate"], Path("/runs/a"), RUN)  # accepted: no error


def test_allow_covers_the_keys_below_and_rejects_a_key_that_does_not_differ():
    diffs = _differences(RUN, [*RUN, "training.report_to=[none]"])
    assert [d.key for d in diffs] == ["training.report_to[0]"]
    check_differences(diffs, ["training.report_to"], Path("/runs/a"), RUN)
    with pytest.raises(RunDirError, match=r"--allow-config-change training.max_step: no such training-relevant"):
        check_differences(diffs, ["training.report_to", "training.max_step"], Path("/runs/a"), RUN)


def test_fusion_and_data_content_differences_are_caught(tmp_path):
    data = tmp_path / "train.jsonl"
    source = Path("artifacts/data/synthetic_dense/train.jsonl").resolve()
    data.write_bytes(source.read_bytes())
    fusion = tmp_path / "fusion.yaml"
    fusion.write_text(f"extends: {Path('configs/fusion/variants/synthetic_tiny.yaml').resolve()}\n"
                      f"targets:\n  - name: synthetic_dense\n    train_jsonl: {data}\n")
    run = [*RUN, f"custom.fusion_config={fusion}"]
    before = load_training_config(SMOKE_CONFIG, run)
    recorded = current_state(before, run)
    data.write_bytes(b"".join(source.read_bytes().splitlines(keepends=True)[:-1]))  # one record fewer
    fusion.write_text(fusion.read_text() + "    ratio: 0.5\n")
    cfg = load_training_config(SMOKE_CONFIG, run)
    diffs = {d.key: d for d in config_differences(recorded, cfg, current_state(cfg, run))}
    assert set(diffs) == {"fusion.targets[synthetic_dense].ratio", "datasets.synthetic_dense.train"}
    assert diffs["datasets.synthetic_dense.train"].recorded["records"] == 64
    assert diffs["datasets.synthetic_dense.train"].new["records"] == 63


def test_a_run_is_finished_by_its_manifest_or_by_its_last_checkpoint(tmp_path):
    ckpt = tmp_path / "checkpoint-4"
    ckpt.mkdir()
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": 4, "max_steps": 6}))
    running = {"status": {"state": "running", "global_step": 4}}
    assert finished_at(running, ckpt) is None
    assert "completed at step 6" in finished_at({"status": {"state": "completed", "global_step": 6}}, ckpt)
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": 6, "max_steps": 6}))
    assert finished_at(running, ckpt) == "checkpoint-4 is at step 6 of max_steps 6"  # killed after the last save
