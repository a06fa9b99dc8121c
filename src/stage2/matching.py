"""Hungarian matching of Channel-B predictions to ground truth (pure; numpy + scipy).

IoU: the project's one definition, ``src/datasets/iou.py`` (boxes of the objects' points, thin
sides widened; different geometry kinds never overlap, so a ``poly`` never matches a ``bbox_2d``).

Eligibility (the gate): a pair may be matched iff ``iou >= iou_threshold`` and ``iou > 0``
(disjoint objects are never a match, even with threshold 0).

Cost of an eligible pair: ``(1 - iou) + desc_weight * desc_mismatch`` where ``desc_mismatch`` is
0 when the two descs are equal after case folding and whitespace collapsing, else 1.

Objective, lexicographic: (1) the most matched pairs among eligible pairs, (2) the least total
cost (on a grid of ``1 / COST_SCALE``, so float noise cannot decide), (3) ties broken towards
the least ``sum(pred_idx + gt_idx)`` (earlier predictions / ground truths first: of two identical
duplicate predictions the first is matched), then by scipy's deterministic solver. The three
levels are packed into one exact integer matrix (< 2**53, exactly representable in float64);
for very large inputs the cost grid is coarsened to stay exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from src.datasets.iou import iou_matrix
from src.datasets.records import DenseObject

COST_SCALE = 1_000_000  # cost resolution 1e-6
_EXACT = 2**52


@dataclass(frozen=True, slots=True)
class MatchPair:
    pred: int  # index into the predictions
    gt: int  # index into the ground truth
    iou: float


@dataclass(frozen=True)
class MatchResult:
    pairs: tuple[MatchPair, ...]  # sorted by pred index
    unmatched_preds: tuple[int, ...]  # ascending
    unmatched_gts: tuple[int, ...]  # ascending

    def by_pred(self) -> dict[int, MatchPair]:
        """``{pred_idx: pair}``."""
        return {p.pred: p for p in self.pairs}

    @property
    def n_matched(self) -> int:
        return len(self.pairs)

    @property
    def n_fp(self) -> int:
        return len(self.unmatched_preds)

    @property
    def n_fn(self) -> int:
        return len(self.unmatched_gts)


def normalize_desc(desc: str) -> str:
    return " ".join(desc.casefold().split())


def desc_mismatch(preds: Sequence[DenseObject], gts: Sequence[DenseObject]) -> np.ndarray:
    """``[n, m]`` 0/1: 1 where the normalized descs differ."""
    g = [normalize_desc(o.desc) for o in gts]
    return np.array([[float(normalize_desc(p.desc) != d) for d in g] for p in preds],
                    dtype=np.float64).reshape(len(preds), len(gts))


def tie_bound(n: int, m: int) -> int:
    """An upper bound (exclusive) on the tie term ``sum(pred_idx + gt_idx)`` of any assignment."""
    return min(n, m) * (n + m - 2) + 1


def cost_scale(n: int, m: int, max_cost: float) -> int:
    """The cost grid (``1 / scale``) for an ``n x m`` problem with costs in ``[0, max_cost]``: the finest
    power of ten up to :data:`COST_SCALE` at which the packed weight of any assignment stays below
    ``2**52`` with a 2x margin (so float64 sums are exact); coarser only for very large inputs."""
    k, tb = min(n, m), tie_bound(n, m)
    scale = COST_SCALE
    # an assignment's total <= k * gate, gate <= k * (scale * max_cost + 1) * tie_bound + 1
    while scale > 1 and k * (k * (scale * max_cost + 1) * tb + 1) * 2 >= _EXACT:
        scale //= 10
    return scale


def _integer_weights(cost: np.ndarray, eligible: np.ndarray, max_cost: float) -> np.ndarray:
    """One exact integer matrix for the lexicographic objective: quantized cost first, the tie term
    second (``cost * tie_bound + i + j``); ineligible pairs get a gate larger than any eligible
    assignment's total, so the solver maximizes the number of eligible pairs first."""
    n, m = cost.shape
    tb = tie_bound(n, m)
    q = np.rint(cost * cost_scale(n, m, max_cost)).astype(np.int64)
    tie = np.add.outer(np.arange(n, dtype=np.int64), np.arange(m, dtype=np.int64))
    w = q * tb + tie
    gate = min(n, m) * int(w[eligible].max() + 1) + 1
    return np.where(eligible, w, gate)


def match_objects(preds: Sequence[DenseObject], gts: Sequence[DenseObject], *,
                  iou_threshold: float = 0.5, desc_weight: float = 0.0) -> MatchResult:
    """One-to-one matching of ``preds`` to ``gts`` (both in pixel coordinates); see the module doc."""
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
    if not desc_weight >= 0.0:
        raise ValueError(f"desc_weight must be >= 0, got {desc_weight}")
    n, m = len(preds), len(gts)
    if n == 0 or m == 0:
        return MatchResult((), tuple(range(n)), tuple(range(m)))
    iou = iou_matrix(preds, gts)
    eligible = (iou >= iou_threshold) & (iou > 0.0)
    if not eligible.any():
        return MatchResult((), tuple(range(n)), tuple(range(m)))
    cost = 1.0 - iou
    if desc_weight > 0.0:
        cost = cost + desc_weight * desc_mismatch(preds, gts)
    weights = _integer_weights(cost, eligible, 1.0 + desc_weight)
    rows, cols = linear_sum_assignment(weights.astype(np.float64))
    pairs = sorted((MatchPair(int(r), int(c), float(iou[r, c]))
                    for r, c in zip(rows, cols) if eligible[r, c]), key=lambda p: p.pred)
    used_p = {p.pred for p in pairs}
    used_g = {p.gt for p in pairs}
    return MatchResult(tuple(pairs), tuple(i for i in range(n) if i not in used_p),
                       tuple(j for j in range(m) if j not in used_g))


__all__ = [
    "COST_SCALE",
    "MatchPair",
    "MatchResult",
    "cost_scale",
    "desc_mismatch",
    "iou_matrix",
    "match_objects",
    "normalize_desc",
]
