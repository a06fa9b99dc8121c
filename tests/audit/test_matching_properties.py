"""Channel-B matching against a brute-force reference of its documented lexicographic objective:
(1) most eligible pairs, (2) least total cost (1 - IoU + desc_weight * desc mismatch), (3) least
sum of indices. Small random cases are enumerated exhaustively; large ones exercise the exact
integer packing (coarsened cost grid) against scipy on the float costs."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from src.datasets.records import DenseObject
from src.stage2.matching import desc_mismatch, iou_matrix, match_objects, normalize_desc

DESCS = ["cat", "Cat ", "red  car", "red car", "dog"]


def rand_boxes(rng: random.Random, n: int) -> list[DenseObject]:
    out = []
    for _ in range(n):
        x, y = rng.uniform(0, 60), rng.uniform(0, 60)
        out.append(DenseObject(rng.choice(DESCS), "bbox_2d", (x, y, x + rng.uniform(5, 40), y + rng.uniform(5, 40))))
    return out


def brute(preds, gts, thr, dw):
    iou = iou_matrix(preds, gts)
    mis = desc_mismatch(preds, gts)
    n, m = len(preds), len(gts)
    best = None
    for k in range(min(n, m), -1, -1):
        for ps in itertools.combinations(range(n), k):
            for gs in itertools.permutations(range(m), k):
                pairs = list(zip(ps, gs))
                if not all(iou[p, g] >= thr and iou[p, g] > 0 for p, g in pairs):
                    continue
                cost = round(sum(1 - iou[p, g] + dw * mis[p, g] for p, g in pairs) * 1e6)
                key = (-k, cost, sum(p + g for p, g in pairs))
                if best is None or key < best[0]:
                    best = (key, sorted(pairs))
        if best is not None:
            return best
    return ((0, 0, 0), [])


@pytest.mark.parametrize("seed", range(40))
def test_matching_is_the_lexicographic_optimum(seed: int) -> None:
    rng = random.Random(seed)
    preds, gts = rand_boxes(rng, rng.randint(0, 4)), rand_boxes(rng, rng.randint(0, 4))
    thr, dw = rng.choice([0.0, 0.1, 0.3, 1.0]), rng.choice([0.0, 0.5])
    got = match_objects(preds, gts, iou_threshold=thr, desc_weight=dw)
    (k, cost, ties), pairs = brute(preds, gts, thr, dw)
    got_pairs = sorted((p.pred, p.gt) for p in got.pairs)
    assert len(got_pairs) == -k, f"seed {seed}: matched {got_pairs}, optimum {pairs}"
    iou, mis = iou_matrix(preds, gts), desc_mismatch(preds, gts)
    got_cost = round(sum(1 - iou[p, g] + dw * mis[p, g] for p, g in got_pairs) * 1e6)
    assert abs(got_cost - cost) <= len(got_pairs), f"seed {seed}: cost {got_cost} vs optimum {cost}"
    assert sum(p + g for p, g in got_pairs) == ties or got_cost != cost
    assert got.unmatched_preds == tuple(sorted(set(range(len(preds))) - {p for p, _ in got_pairs}))
    assert got.unmatched_gts == tuple(sorted(set(range(len(gts))) - {g for _, g in got_pairs}))
    for p in got.pairs:
        assert p.iou == pytest.approx(iou[p.pred, p.gt])


def test_large_inputs_still_reach_the_float_optimum() -> None:
    rng = random.Random(7)
    preds, gts = rand_boxes(rng, 120), rand_boxes(rng, 110)
    got = match_objects(preds, gts, iou_threshold=0.0, desc_weight=0.5)
    iou, mis = iou_matrix(preds, gts), desc_mismatch(preds, gts)
    eligible = iou > 0
    cost = np.where(eligible, 1 - iou + 0.5 * mis, 1e6)
    rows, cols = linear_sum_assignment(cost - 1e3 * eligible)
    ref = [(r, c) for r, c in zip(rows, cols) if eligible[r, c]]
    assert len(got.pairs) == len(ref)
    ref_cost = sum(cost[r, c] for r, c in ref)
    assert sum(cost[p.pred, p.gt] for p in got.pairs) == pytest.approx(ref_cost, abs=1e-3)


def test_desc_normalisation_and_argument_checks() -> None:
    assert normalize_desc("  Red \t CAR ") == "red car"
    a = DenseObject("Red  car", "bbox_2d", (0, 0, 10, 10))
    assert desc_mismatch([a], [DenseObject("red car", "bbox_2d", (0, 0, 10, 10))]).tolist() == [[0.0]]
    assert desc_mismatch([a], [DenseObject("red cars", "bbox_2d", (0, 0, 10, 10))]).dtype == np.float64
    assert len(match_objects([a], [a], iou_threshold=1.0).pairs) == 1
    only_preds = match_objects([a], [], iou_threshold=0.5)
    assert only_preds.unmatched_preds == (0,) and only_preds.unmatched_gts == ()
    only_gts = match_objects([], [a, a], iou_threshold=0.5)
    assert only_gts.unmatched_gts == (0, 1) and not only_gts.pairs
    with pytest.raises(ValueError, match=r"iou_threshold must be in \[0, 1\], got 1.5"):
        match_objects([a], [a], iou_threshold=1.5)
    with pytest.raises(ValueError, match="desc_weight must be >= 0, got -1"):
        match_objects([a], [a], iou_threshold=0.5, desc_weight=-1)
