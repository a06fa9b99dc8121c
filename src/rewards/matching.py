"""Geometry IoU and one-to-one (Hungarian) matching of predicted to ground-truth objects.

Pure functions over :class:`~src.datasets.records.DenseObject` (pixel coordinates).

IoU: the project's one definition, ``src/datasets/iou.py`` (shared with stage-2 matching).

Matching: :func:`hungarian_match` solves the assignment with
``scipy.optimize.linear_sum_assignment`` over a weight matrix restricted to allowed pairs.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

IOU_THRESHOLDS: tuple[float, ...] = tuple(round(0.50 + 0.05 * k, 2) for k in range(10))  # 0.50:0.05:0.95
_EPS = 1e-9


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
