"""The project's one IoU between objects (rewards, stage-2 matching, evaluation).

Every geometry is compared through the axis-aligned box of its points (`bbox_2d` is its own box;
`poly` and `line` use the box of their points). A side thinner than
max(MIN_EXTENT_PX, MIN_EXTENT_FRAC x the box's longer side) (a horizontal line, a point) is widened
symmetrically to that size, so the IoU of thin objects is defined and scale-invariant. Objects of
different geometry kinds never overlap (IoU 0). The IoU is continuous and non-increasing in the
distance a box is shifted. Pure numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .records import DenseObject

MIN_EXTENT_PX = 2.0  # minimum side of a comparison box, pixels
MIN_EXTENT_FRAC = 0.05  # ... and as a fraction of the box's longer side

Box = tuple[float, float, float, float]


def comparison_boxes(objects: Sequence[DenseObject]) -> np.ndarray:
    """`[n, 4]` comparison boxes (x1, y1, x2, y2) of the objects, thin sides widened."""
    boxes = np.array([o.bounds for o in objects], dtype=np.float64).reshape(-1, 4)
    longer = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    side = np.maximum(MIN_EXTENT_PX, MIN_EXTENT_FRAC * longer)
    for lo, hi in ((0, 2), (1, 3)):
        short = boxes[:, hi] - boxes[:, lo] < side
        centre = (boxes[short, lo] + boxes[short, hi]) / 2
        boxes[short, lo] = centre - side[short] / 2
        boxes[short, hi] = centre + side[short] / 2
    return boxes


def iou_matrix(preds: Sequence[DenseObject], gts: Sequence[DenseObject]) -> np.ndarray:
    """`[len(preds), len(gts)]` IoU of comparison boxes; 0 where geometry kinds differ."""
    a, b = comparison_boxes(preds), comparison_boxes(gts)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    same_kind = np.array([[p.kind == g.kind for g in gts] for p in preds], dtype=bool).reshape(iou.shape)
    return np.where(same_kind, np.clip(iou, 0.0, 1.0), 0.0)
