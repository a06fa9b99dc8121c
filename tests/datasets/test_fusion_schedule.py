"""Fusion schedule: declared ratio semantics, without-replacement draws, determinism per (seed, epoch)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from src.datasets.fusion_schedule import DatasetSpec, build_schedule, draw_passes, expected_counts, quota


def per_dataset(sched, name):
    d = sched.names.index(name)
    return sched.pairs[sched.pairs[:, 0] == d, 1].tolist()


@pytest.mark.parametrize(
    "length, ratio, want",
    [
        (7, 1.0, 7),
        (5, 0.5, 3),
        (4, 0.5, 2),
        (10, 1.15, 12),
        (3, 2.5, 8),
        (10, 0.25, 3),
        (0, 3.0, 0),
        (9, 0.0, 0),
        (1000, 0.1234, 123),
    ],
)
def test_quota_rounds_half_up_on_the_decimal_ratio(length, ratio, want):
    assert quota(length, ratio) == want


def test_quota_rejects_negative():
    with pytest.raises(ValueError):
        quota(5, -0.5)
    with pytest.raises(ValueError):
        quota(-1, 1.0)


def test_ratio_one_yields_every_target_record_exactly_once():
    sched = build_schedule(0, 0, [DatasetSpec("a", 101), DatasetSpec("b", 37)])
    assert sorted(per_dataset(sched, "a")) == list(range(101))
    assert sorted(per_dataset(sched, "b")) == list(range(37))
    assert len(sched) == 138 and sched.counts() == {"a": 101, "b": 37} == dict(sched.expected)


def test_ratio_below_one_is_a_subset_without_replacement():
    sched = build_schedule(3, 1, [DatasetSpec("a", 100, 0.37)])
    recs = per_dataset(sched, "a")
    assert len(recs) == 37 and len(set(recs)) == 37 and all(0 <= r < 100 for r in recs)


def test_ratio_above_one_is_full_passes_plus_remainder():
    sched = build_schedule(5, 2, [DatasetSpec("a", 4, 2.5)])
    counts = Counter(per_dataset(sched, "a"))
    assert sum(counts.values()) == 10
    assert sorted(counts.values()) == [2, 2, 3, 3]  # two full passes + 2 distinct extras


def test_sources_follow_the_total_target_quota():
    targets = [DatasetSpec("t1", 60), DatasetSpec("t2", 40, 0.5)]  # 60 + 20 = 80
    sources = [DatasetSpec("half", 1000, 0.5), DatasetSpec("wrap", 30, 0.25), DatasetSpec("big", 7, 1.0)]
    sched = build_schedule(11, 0, targets, sources)
    assert sched.expected == {"t1": 60, "t2": 20, "half": 40, "wrap": 20, "big": 80}
    assert sched.counts() == sched.expected
    half = per_dataset(sched, "half")
    assert len(set(half)) == 40  # without replacement while possible
    wrap = per_dataset(sched, "wrap")
    assert len(set(wrap)) == 20
    big = Counter(per_dataset(sched, "big"))
    assert set(big) == set(range(7)) and max(big.values()) - min(big.values()) <= 1  # wraps in passes
    assert sched.roles == ("target", "target", "source", "source", "source")


def test_same_seed_and_epoch_is_identical_and_epochs_differ():
    targets = [DatasetSpec("a", 50), DatasetSpec("b", 20, 1.5)]
    sources = [DatasetSpec("s", 10, 0.3)]
    a = build_schedule(7, 3, targets, sources)
    b = build_schedule(7, 3, targets, sources)
    assert np.array_equal(a.pairs, b.pairs)
    c = build_schedule(7, 4, targets, sources)
    assert not np.array_equal(a.pairs, c.pairs)
    assert not np.array_equal(a.pairs[:, 0], c.pairs[:, 0])  # the interleave itself changes too
    assert not np.array_equal(a.pairs, build_schedule(8, 3, targets, sources).pairs)
    assert not a.pairs.flags.writeable


def test_interleave_mixes_datasets():
    sched = build_schedule(0, 0, [DatasetSpec("a", 500), DatasetSpec("b", 500)])
    first_half = sched.pairs[:500, 0]
    assert 200 < int((first_half == 0).sum()) < 300


def test_adding_a_source_keeps_target_draws():
    targets = [DatasetSpec("a", 40, 0.5)]
    without = build_schedule(1, 2, targets)
    with_src = build_schedule(1, 2, targets, [DatasetSpec("s", 9, 1.0)])
    assert sorted(per_dataset(without, "a")) == sorted(per_dataset(with_src, "a"))


def test_expected_counts_and_errors():
    assert expected_counts([DatasetSpec("a", 3)], [DatasetSpec("b", 5, 2.0)]) == {"a": 3, "b": 6}
    with pytest.raises(ValueError, match="at least one target"):
        expected_counts([])
    with pytest.raises(ValueError, match="unique"):
        expected_counts([DatasetSpec("a", 3)], [DatasetSpec("a", 5)])
    with pytest.raises(ValueError, match="empty"):
        expected_counts([DatasetSpec("a", 3)], [DatasetSpec("s", 0, 1.0)])
    assert expected_counts([DatasetSpec("a", 3)], [DatasetSpec("s", 0, 0.0)]) == {"a": 3, "s": 0}
    with pytest.raises(ValueError):
        build_schedule(-1, 0, [DatasetSpec("a", 3)])


def test_draw_passes():
    rng = np.random.default_rng(0)
    out = draw_passes(5, 12, rng)
    assert sorted(out[:5].tolist()) == list(range(5)) and sorted(out[5:10].tolist()) == list(range(5))
    assert len(set(out[10:].tolist())) == 2
    assert draw_passes(0, 0, rng).shape == (0,)
    with pytest.raises(ValueError):
        draw_passes(0, 1, rng)
