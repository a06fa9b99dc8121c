"""Hungarian matching: IoU gate, max cardinality, min cost, deterministic ties, empty sides."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from src.datasets.records import DenseObject
from src.stage2 import matching
from src.stage2.matching import COST_SCALE, MatchPair, cost_scale, iou_matrix, match_objects, normalize_desc


def box(x1, y1, x2, y2, desc="obj") -> DenseObject:
    return DenseObject(desc, "bbox_2d", (x1, y1, x2, y2))


def test_empty_sides():
    a = [box(0, 0, 10, 10)]
    assert match_objects([], []).pairs == ()
    r = match_objects([], a)
    assert (r.pairs, r.unmatched_preds, r.unmatched_gts) == ((), (), (0,))
    r = match_objects(a + a, [])
    assert (r.pairs, r.unmatched_preds, r.unmatched_gts) == ((), (0, 1), ())


def test_simple_matching_and_counts():
    preds = [box(50, 50, 60, 60), box(0, 0, 10, 10), box(200, 200, 210, 210)]
    gts = [box(0, 0, 10, 10), box(51, 50, 61, 60)]
    r = match_objects(preds, gts, iou_threshold=0.5)
    assert r.pairs == (MatchPair(0, 1, pytest.approx(90 / 110)), MatchPair(1, 0, 1.0))
    assert r.unmatched_preds == (2,) and r.unmatched_gts == ()
    assert (r.n_matched, r.n_fp, r.n_fn) == (2, 1, 0)
    assert r.by_pred()[1].gt == 0


def test_gate_is_inclusive_at_threshold():
    p, g = box(0, 0, 10, 10), box(0, 0, 10, 5)  # IoU exactly 0.5
    assert match_objects([p], [g], iou_threshold=0.5).pairs == (MatchPair(0, 0, 0.5),)
    assert match_objects([p], [g], iou_threshold=0.51).pairs == ()


def test_disjoint_never_matches_even_with_zero_threshold():
    r = match_objects([box(0, 0, 10, 10)], [box(20, 20, 30, 30)], iou_threshold=0.0)
    assert r.pairs == () and r.unmatched_preds == (0,) and r.unmatched_gts == (0,)


def test_kinds_never_match_each_other():
    pred = DenseObject("p", "poly", (0, 0, 10, 0, 10, 10, 0, 10))
    assert iou_matrix([pred], [box(0, 0, 10, 10)])[0, 0] == 0.0
    assert match_objects([pred], [box(0, 0, 10, 10)], iou_threshold=0.0).pairs == ()
    gt = DenseObject("g", "poly", (0, 0, 10, 0, 10, 10))
    assert match_objects([pred], [gt]).pairs == (MatchPair(0, 0, 1.0),)  # poly: box of its points


def test_lines_use_a_min_extent_box():
    pred = DenseObject("l", "line", (0, 5, 100, 5))
    gt = DenseObject("l", "line", (0, 5.2, 100, 5.2))
    iou = iou_matrix([pred], [gt])[0, 0]
    # comparison boxes 5 px tall (5% of the 100 px length): overlap 100 x 4.8 over 100 x 5.2
    assert iou == pytest.approx(480 / 520)
    assert match_objects([pred], [gt]).pairs[0].gt == 0


def test_most_matches_beat_one_perfect_match():
    g0, g1 = box(0, 0, 10, 10), box(4, 0, 14, 10)
    p0, p1 = box(0, 0, 10, 10), box(0, 0, 10, 6)  # p0 = g0 exactly; p1 only fits g0
    r = match_objects([p0, p1], [g0, g1], iou_threshold=0.4)
    assert [(p.pred, p.gt) for p in r.pairs] == [(0, 1), (1, 0)]


def test_least_cost_among_equal_counts():
    gts = [box(0, 0, 10, 10), box(100, 0, 110, 10)]
    preds = [box(101, 0, 111, 10), box(1, 0, 11, 10)]
    r = match_objects(preds, gts, iou_threshold=0.5)
    assert [(p.pred, p.gt) for p in r.pairs] == [(0, 1), (1, 0)]


def test_ties_prefer_earlier_predictions_and_ground_truths():
    a = box(0, 0, 10, 10)
    assert [(p.pred, p.gt) for p in match_objects([a, a, a], [a]).pairs] == [(0, 0)]
    assert [(p.pred, p.gt) for p in match_objects([a], [a, a, a]).pairs] == [(0, 0)]
    r = match_objects([a, a], [a, a])
    assert [(p.pred, p.gt) for p in r.pairs] == [(0, 0), (1, 1)]


def test_desc_term_ranks_eligible_pairs():
    preds = [box(0, 0, 10, 10, "cat"), box(0, 0, 10, 10, "dog")]
    gts = [box(0, 0, 10, 10, "  Dog ")]
    assert match_objects(preds, gts).pairs[0].pred == 0  # IoU-only: tie -> earlier
    assert match_objects(preds, gts, desc_weight=0.5).pairs[0].pred == 1
    # the desc term never overrides the gate
    far = [box(50, 50, 60, 60, "dog")]
    assert match_objects(far, gts, desc_weight=5.0).pairs == ()


@pytest.mark.parametrize("kwargs", [{"iou_threshold": 1.5}, {"iou_threshold": -0.1}, {"desc_weight": -1.0}])
def test_bad_arguments(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=rf"{name} must be .*got {kwargs[name]}"):
        match_objects([box(0, 0, 1, 1)], [box(0, 0, 1, 1)], **kwargs)


def test_threshold_one_accepts_only_identical_geometry():
    r = match_objects([box(0, 0, 10, 10), box(0, 0, 10, 11)], [box(0, 0, 10, 11)], iou_threshold=1.0)
    assert [(p.pred, p.gt) for p in r.pairs] == [(1, 0)]


def test_desc_normalization_folds_case_and_collapses_whitespace():
    assert normalize_desc("  Red\t BOX \n") == "red box"
    r = match_objects([box(0, 0, 10, 10, "Red  Box")], [box(0, 0, 10, 10, "red box")], desc_weight=5.0)
    assert r.n_matched == 1


def test_one_cost_grid_step_outranks_the_index_tie_break():
    # pred 0 may take gt 0 (earlier) or gt 1 (cheaper by one grid step): cost decides, not the index
    cost = np.array([[0.5, 0.5 - 1 / COST_SCALE]])
    weights = matching._integer_weights(cost, np.ones_like(cost, dtype=bool), 1.0)
    rows, cols = matching.linear_sum_assignment(weights.astype(np.float64))
    assert (rows.tolist(), cols.tolist()) == ([0], [1])


def _brute_force(iou, cost, eligible):
    """Lexicographic optimum: most pairs, least quantized cost, least sum(i + j)."""
    n, m = iou.shape
    best_key = None
    for assign in itertools.product([None, *range(m)], repeat=n):
        used = [j for j in assign if j is not None]
        if len(used) != len(set(used)) or any(j is not None and not eligible[i, j] for i, j in enumerate(assign)):
            continue
        pairs = [(i, j) for i, j in enumerate(assign) if j is not None]
        key = (-len(pairs), sum(round(cost[i, j] * COST_SCALE) for i, j in pairs), sum(i + j for i, j in pairs))
        if best_key is None or key < best_key:
            best_key = key
    return best_key


def _random_boxes(rng, k):
    out = []
    for _ in range(k):
        x, y = rng.randint(0, 30), rng.randint(0, 30)
        out.append(box(x, y, x + rng.randint(4, 20), y + rng.randint(4, 20), rng.choice("ab")))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_optimal_against_brute_force(seed):
    rng = random.Random(seed)
    preds, gts = _random_boxes(rng, rng.randint(0, 4)), _random_boxes(rng, rng.randint(0, 4))
    thr, dw = rng.choice([0.0, 0.1, 0.3, 0.5]), rng.choice([0.0, 0.3])
    r = match_objects(preds, gts, iou_threshold=thr, desc_weight=dw)
    got = [(p.pred, p.gt) for p in r.pairs]
    assert sorted({i for i, _ in got} | set(r.unmatched_preds)) == list(range(len(preds)))
    assert sorted({j for _, j in got} | set(r.unmatched_gts)) == list(range(len(gts)))
    if not preds or not gts:
        assert got == []
        return
    iou = iou_matrix(preds, gts)
    eligible = (iou >= thr) & (iou > 0)
    cost = 1.0 - iou + dw * np.array([[float(p.desc != g.desc) for g in gts] for p in preds])
    key = (-len(got), sum(round(cost[i, j] * COST_SCALE) for i, j in got), sum(i + j for i, j in got))
    assert key == _brute_force(iou, cost, eligible)
    assert match_objects(preds, gts, iou_threshold=thr, desc_weight=dw) == r  # deterministic


def test_large_inputs_stay_exact_and_fast():
    rng = random.Random(0)
    preds, gts = _random_boxes(rng, 300), _random_boxes(rng, 300)
    r = match_objects(preds, gts, iou_threshold=0.3)
    assert len({p.gt for p in r.pairs}) == len(r.pairs) and all(p.iou >= 0.3 for p in r.pairs)


@pytest.mark.parametrize("n,m,max_cost", [(1, 1, 1.0), (60, 60, 1.0), (200, 200, 1.0), (400, 300, 1.0),
                                          (300, 400, 3.0), (1000, 1000, 1.5)])
def test_cost_grid_is_exact_and_only_as_coarse_as_needed(n, m, max_cost, monkeypatch):
    k = min(n, m)
    scale = cost_scale(n, m, max_cost)
    assert isinstance(scale, int) and scale >= 1 and COST_SCALE % scale == 0
    assert str(scale).rstrip("0") == "1", f"grid {scale} is not a power of ten"
    worst = np.full((n, m), max_cost)  # every pair at the highest cost; one ineligible pair adds the gate
    eligible = np.ones((n, m), dtype=bool)
    eligible[0, 0] = n * m == 1

    def max_total(at_scale):
        monkeypatch.setattr(matching, "cost_scale", lambda *_: at_scale)
        return k * int(matching._integer_weights(worst, eligible, max_cost).max())

    assert max_total(scale) < 2**52, "assignment totals must stay exact in float64"
    if scale < COST_SCALE:  # the next finer grid would leave no margin: coarsening was needed
        assert max_total(scale * 10) * 4 >= 2**52
    if k <= 60:
        assert scale == COST_SCALE


@pytest.mark.parametrize("size", [5_000, 50_000])
def test_cost_grid_bottoms_out_at_unit_steps(size):
    assert cost_scale(size, size, 1.0) == 1


def test_cost_grid_coarsens_monotonically_with_size():
    scales = [cost_scale(k, k, 1.0) for k in (1, 100, 150, 200, 300, 500, 1000, 2000, 4000)]
    assert scales == sorted(scales, reverse=True) and scales[0] == COST_SCALE and scales[-1] < COST_SCALE


@pytest.mark.parametrize("desc_weight", [0.5, 2.0])
def test_large_inputs_with_desc_terms_are_solved_on_exact_weights(desc_weight, monkeypatch):
    seen = []
    solve = matching.linear_sum_assignment
    monkeypatch.setattr(matching, "linear_sum_assignment", lambda w: seen.append(w.max()) or solve(w))
    rng = random.Random(1)
    preds, gts = _random_boxes(rng, 250), _random_boxes(rng, 250)
    r = match_objects(preds, gts, iou_threshold=0.3, desc_weight=desc_weight)
    assert r.n_matched > 0 and len(seen) == 1
    assert 250 * seen[0] < 2**53
