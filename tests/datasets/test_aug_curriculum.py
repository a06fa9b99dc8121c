"""The per-phase augmentation curriculum: exact ramped values, hold semantics, and that the values reach
DataLoader workers through the fusion dataset's shared training position."""

from __future__ import annotations

import pytest
from support.augment import pipeline_of, sections, values
from torch.utils.data import DataLoader

from src.datasets.aug_curriculum import Curriculum
from src.datasets.augmentation import AugmentationPipeline
from src.datasets.fusion_dataset import FusionDataset, FusionMember, SampleContext

# The seed presets' shape: a weak base, a held warm-up phase, then ramps (values from its dense preset).
AUG = {
    "enabled": True,
    "bypass_prob": 1.0,
    "ops": [
        {"name": "hflip", "prob": 0.0},
        {"name": "roi_crop", "prob": 0.0, "anchor_classes": ["BBU设备"], "scale_range": [1.25, 2.3]},
        {"name": "resize_by_scale", "prob": 0.0, "lo": 0.98, "hi": 1.02, "align_multiple": 32},
        {"name": "rotate", "prob": 0.0, "max_degrees": 0.0},
        {"name": "expand_to_fit_affine", "multiple": 32, "max_pixels": 2097152},
    ],
}
CUR = {
    "phases": [
        {"until_percent": 2, "bypass_prob": 1.0, "ops": {}},
        {"until_percent": 6, "bypass_prob": 0.6, "ops": {"hflip": {"prob": 0.15},
                                                         "resize_by_scale": {"prob": 0.2, "lo": 0.96, "hi": 1.04}}},
        {"until_percent": 12, "bypass_prob": 0.32, "ops": {"rotate": {"prob": 0.15, "max_degrees": 10.0},
                                                           "roi_crop": {"prob": 0.1, "scale_range": [1.4, 2.6]}}},
        {"until_percent": 100, "ops": {"roi_crop": {"prob": 0.5, "scale_range": [1.25, 2.3]}}},
    ]
}


def pipe() -> AugmentationPipeline:
    return pipeline_of(AUG, CUR)


def curriculum(bypass_prob: float, ops: list[dict], phases: list[dict]) -> Curriculum:
    return Curriculum.build(*sections({"enabled": True, "bypass_prob": bypass_prob, "ops": ops}, {"phases": phases}))


HFLIP = [{"name": "hflip", "prob": 0.0}]


def test_base_holds_through_a_phase_that_repeats_it():
    s = pipe()
    for step in (0, 1, 2):
        t = s.config_at(step, 100)
        assert t.bypass_prob == 1.0 and [getattr(op, "prob", None) for op in t.ops] == [0.0, 0.0, 0.0, 0.0, None]
        assert t.ops[1].scale_range == [1.25, 2.3] and t.ops[3].max_degrees == 0.0


def test_linear_ramp_between_milestones():
    t = pipe().config_at(4, 100)  # halfway from 2 % to 6 %
    assert t.bypass_prob == pytest.approx(0.8)
    assert t.ops[0].prob == pytest.approx(0.075)
    assert (t.ops[2].prob, t.ops[2].lo, t.ops[2].hi) == pytest.approx((0.1, 0.97, 1.03))
    assert t.ops[2].align_multiple == 32 and t.ops[1].anchor_classes == ["BBU设备"]  # never ramped
    assert values(t)[1][3] == {"prob": 0.0, "max_degrees": 0.0}  # not named yet: base held
    t = pipe().config_at(9, 100)  # halfway from 6 % to 12 %
    assert t.bypass_prob == pytest.approx(0.46)
    assert t.ops[0].prob == pytest.approx(0.15)  # named in phase 1 only: its target holds
    assert (t.ops[3].prob, t.ops[3].max_degrees) == pytest.approx((0.075, 5.0))
    assert t.ops[1].scale_range == pytest.approx([1.325, 2.45])  # each end of a range ramps


def test_a_milestone_gives_its_targets_exactly():
    t = pipe().config_at(12, 100)
    assert t.bypass_prob == 0.32 and t.ops[1].scale_range == [1.4, 2.6] and t.ops[3].prob == 0.15
    assert t.ops[2].lo == 0.96 and t.ops[0].prob == 0.15


def test_unnamed_bypass_holds_and_the_last_targets_hold_after_the_end():
    s = pipe()
    t = s.config_at(56, 100)  # halfway from 12 % to 100 %
    assert t.bypass_prob == pytest.approx(0.32)
    assert t.ops[1].prob == pytest.approx(0.3) and t.ops[1].scale_range == pytest.approx([1.325, 2.45])
    end = s.config_at(100, 100)
    assert end == s.config_at(250, 100) == s.config_at(10**6, 100)
    assert end.ops[1].prob == 0.5 and end.ops[1].scale_range == [1.25, 2.3] and end.bypass_prob == 0.32


def test_percent_needs_total_steps_and_step_unit_uses_the_step():
    s = pipe()
    assert s.config_at(50, 0) == s.config_at(0, 100)  # total unknown: the base
    assert s.curriculum.position(5, 0) == 0.0
    cur = curriculum(0.5, HFLIP, [{"until_step": 10, "bypass_prob": 0.0, "ops": {"hflip": {"prob": 1.0}}}])
    assert cur.position(5, 1000) == 5.0 and cur.position(-3, 10) == 0.0
    assert values(cur.at(5)) == (0.25, ({"prob": 0.5},))
    assert values(cur.at(1)) == (0.45, ({"prob": 0.1},))
    assert values(cur.at(0)) == values(cur.at(-1)) == (0.5, ({"prob": 0.0},))
    assert values(cur.at(10)) == values(cur.at(11)) == (0.0, ({"prob": 1.0},))
    pct = curriculum(0.5, [], [{"until_percent": 50, "bypass_prob": 0.0}])
    assert pct.position(30, 120) == 25.0 and pct.position(500, 100) == 100.0
    assert (pct.position(1, 1000), pct.position(0, 1), pct.position(1, 1), pct.position(-5, 10)) == (0.1, 0.0, 100.0, 0.0)
    assert pct.at(pct.position(30, 120)).bypass_prob == pytest.approx(0.25)
    with pytest.raises(ValueError, match=r"until_step must strictly increase across phases, got \[5.0, 10.0, 10.0\]"):
        curriculum(0.5, [], [{"until_step": 5, "bypass_prob": 0.0}, {"until_step": 10, "bypass_prob": 0.0},
                             {"until_step": 10, "bypass_prob": 0.1}])


def test_flat_stretch_by_repeating_a_target():
    cur = curriculum(0.0, HFLIP, [{"until_percent": 10, "ops": {"hflip": {"prob": 0.4}}},
                                  {"until_percent": 60, "ops": {"hflip": {"prob": 0.4}}},
                                  {"until_percent": 70, "ops": {"hflip": {"prob": 0.8}}}])
    assert [cur.at(x).ops[0].prob for x in (5, 10, 30, 60, 65, 70, 99)] == pytest.approx(
        [0.2, 0.4, 0.4, 0.4, 0.6, 0.8, 0.8])


# ------------------------------------------------------------------------------------------ workers


def probe(record, ctx: SampleContext):
    """Module-level (picklable): the curriculum values a worker computes for this sample."""
    t = pipe().config_at(ctx.global_step, ctx.total_steps)
    return {"bypass": t.bypass_prob, "roi": t.ops[1].prob, "step": ctx.global_step}


def test_curriculum_values_reach_persistent_workers():
    ds = FusionDataset([FusionMember("a", [{"id": i} for i in range(8)])], seed=3, transform=probe)
    loader = DataLoader(ds, batch_size=4, num_workers=2, persistent_workers=True,
                        collate_fn=lambda b: b, multiprocessing_context="fork")
    seen = []
    for step in (0, 4, 56):
        ds.set_progress(step, 100)  # what FusionScheduleCallback does after each optimizer step
        items = [it for batch in loader for it in batch]
        assert {it["step"] for it in items} == {step}
        seen.append({(round(it["bypass"], 9), round(it["roi"], 9)) for it in items})
    assert seen == [{(1.0, 0.0)}, {(0.8, 0.0)}, {(0.32, 0.3)}]
    del loader
