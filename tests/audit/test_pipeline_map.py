"""docs/audit/PIPELINE_MAP.md cannot rot: every module, function, file and YAML key it names exists."""

from __future__ import annotations

import sys

import pytest
from support.pipeline_map import REQUIRED_STAGES, check_map, check_map_file, parse_map

from src.config.paths import REPO_ROOT

MAP = REPO_ROOT / "docs" / "audit" / "PIPELINE_MAP.md"


@pytest.fixture(scope="module")
def text() -> str:
    return MAP.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def resolved(text):
    from src.config import load_training_config

    pm = parse_map(text)
    return {name: load_training_config(REPO_ROOT / cfg).resolved for name, (_, cfg) in pm.presets.items()}


def test_pipeline_map_is_accurate(resolved) -> None:
    problems = check_map_file(MAP, resolved)
    assert not problems, "docs/audit/PIPELINE_MAP.md is out of date:\n  " + "\n  ".join(problems)


def test_pipeline_map_covers_every_stage_and_both_entrypoints(text) -> None:
    pm = parse_map(text)
    assert set(REQUIRED_STAGES) <= set(pm.stages)
    assert {e for e, _ in pm.presets.values()} == {"scripts/train.sh", "scripts/train_stage2.sh"}
    assert pm.presets["stage2"][1] == "configs/train/stage2_ab/ab_mixed.yaml"
    for stage in REQUIRED_STAGES:
        keys = [e for e in pm.entries if e.stage == stage and e.kind == "key"]
        assert keys, f"stage {stage} lists no YAML key path"


def test_checker_imports_no_heavy_module(text) -> None:
    heavy = {"torch", "transformers", "swift"}
    before = heavy & {m.split(".")[0] for m in sys.modules}
    check_map(parse_map(text), {"stage1": {}, "stage2": {}})
    after = heavy & {m.split(".")[0] for m in sys.modules}
    assert after <= before, f"the map checker imported {sorted(after - before)}"


# ------------------------------------------------------------------------------------------- meta


@pytest.mark.parametrize("old,new,expected", [
    ("`src.trainers.packing_guard:check_packed_batch`", "`src.trainers.packing_gone:check_packed_batch`",
     "module src.trainers.packing_gone does not exist"),
    ("`src.stage2.targets:build_channel_b_target`", "`src.stage2.targets:build_target_renamed`",
     "build_target_renamed is not defined in src/stage2/targets.py"),
    ("`src.trainers.telemetry.mixin:TelemetryMixin.compute_loss`", "`src.trainers.telemetry.mixin:TelemetryMixin.nope`",
     "TelemetryMixin.nope is not defined"),
    ("`training.vit_lr`", "`training.vit_learning_rate`", "'vit_learning_rate' is not an ms-swift 4.6.0 `training`"),
    ("`stage2_ab.channel_b.fp_neutral`", "`stage2_ab.channel_b.fp_neutrality`", "'fp_neutrality' is not a field of"),
    ("`rollout_matching.vllm.timeout_s`", "`rollout_matching.vllm.timeout`", "'timeout' is not a field of RolloutVllm"),
    ("| key | `training.eval_steps` | stage1 |", "| key | `training.eval_steps` | stage2 |",
     "`training.eval_steps` is not set in preset stage2"),
    ("| file | `scripts/train.sh` |", "| file | `scripts/train_gone.sh` |", "`scripts/train_gone.sh`: file does not exist"),
    ("## Stage: packing", "## Stage: packin", "stage 'packing' is missing"),
])
def test_meta_a_removed_module_or_bogus_key_fails_the_map(text, resolved, old, new, expected) -> None:
    assert old in text, f"the meta test's anchor {old!r} is gone from the map: update the test"
    problems = check_map(parse_map(text.replace(old, new, 1)), resolved)
    assert any(expected in p for p in problems), f"expected {expected!r} in {problems}"
    assert any("PIPELINE_MAP.md:" in p or "PIPELINE_MAP.md" in p for p in problems)
