"""Geometry IoU and one-to-one (Hungarian) matching of predicted to ground-truth objects.

Pure functions over :class:`~src.datasets.records.DenseObject` (pixel coordinates).

IoU definition (documented choice): every geometry is compared through the axis-aligned
bounding box of its points (``bbox_2d`` is its own box; ``poly`` and ``line`` use the box of
their points). Degenerate extents (a horizontal / vertical line, a zero-size box) are widened
symmetrically to :data:`MIN_EXTENT` pixels so their IoU is defined. Objects of different
geometry kinds (a ``poly`` predicted for a ``bbox_2d``) never overlap: IoU 0. This IoU is
continuous and non-increasing in the distance a box is shifted, which is what a reward needs.

Matching: :func:`hungarian_match` solves the assignment with
``scipy.optimize.linear_sum_assignment`` over a weight matrix restricted to allowed pairs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from src.datasets.records import DenseObject

MIN_EXTENT_PX = 2.0     # minimum side of a comparison box, pixels
MIN_EXTENT_FRAC = 0.05  # ... and as a fraction of the box's longer side
IOU_THRESHOLDS: tuple[float, ...] = tuple(round(0.50 + 0.05 * k, 2) for k in range(10))  # 0.50:0.05:0.95
_EPS = 1e-9

Box = tuple[float, float, float, float]


def comparison_box(obj: DenseObject) -> Box:
    """The bounding box of the object's points, thin sides widened (see the module docstring)."""
    x1, y1, x2, y2 = obj.bounds
    side = max(MIN_EXTENT_PX, MIN_EXTENT_FRAC * max(x2 - x1, y2 - y1))
    if x2 - x1 < side:
        cx = (x1 + x2) / 2
        x1, x2 = cx - side / 2, cx + side / 2
    if y2 - y1 < side:
        cy = (y1 + y2) / 2
        y1, y2 = cy - side / 2, cy + side / 2
    return (x1, y1, x2, y2)


def box_iou(a: Box, b: Box) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def object_iou(a: DenseObject, b: DenseObject) -> float:
    """IoU of two objects' comparison boxes; 0 when their geometry kinds differ."""
    if a.kind != b.kind:
        return 0.0
    return box_iou(comparison_box(a), comparison_box(b))


def iou_matrix(preds: Sequence[DenseObject], gts: Sequence[DenseObject]) -> np.ndarray:
    """``[len(preds), len(gts)]`` IoU matrix."""
    out = np.zeros((len(preds), len(gts)), dtype=np.float64)
    gt_boxes = [comparison_box(g) for g in gts]
    for i, p in enumerate(preds):
        pb = comparison_box(p)
        for j, g in enumerate(gts):
            if p.kind == g.kind:
                out[i, j] = box_iou(pb, gt_boxes[j])
    return out


def hungarian_match(weights: np.ndarray, allowed: np.ndarray) -> list[tuple[int, int]]:
    """Pairs ``(pred, gt)`` of a maximum-weight one-to-one matching among allowed pairs.

    ``weights`` must be positive where ``allowed``; disallowed pairs are never returned.
    """
    if weights.size == 0 or not allowed.any():
        return []
    w = np.where(allowed, weights, 0.0)
    rows, cols = linear_sum_assignment(w, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if allowed[r, c]]


def match_at_threshold(iou: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Most pairs with IoU >= threshold; among those matchings, the largest total IoU."""
    allowed = iou >= threshold - _EPS
    scale = min(iou.shape) + 1  # total IoU of any matching < scale: one more pair always wins
    return hungarian_match(1.0 + iou / scale, allowed)


def f_beta(tp: float, n_pred: int, n_gt: int, beta: float = 1.0) -> float:
    """F-beta from true positives and the two totals (0 when either side is empty or tp is 0)."""
    if tp <= 0 or n_pred == 0 or n_gt == 0:
        return 0.0
    precision, recall = tp / n_pred, tp / n_gt
    b2 = beta * beta
    return (1 + b2) * precision * recall / (b2 * precision + recall)
