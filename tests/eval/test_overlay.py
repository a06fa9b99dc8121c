"""Overlay pictures draw both sets: ground truth green, predictions red, matched solid, unmatched dashed."""

from __future__ import annotations

import numpy as np
from PIL import Image

from src.datasets.records import DenseObject
from src.eval.overlay import GT_COLOUR, PRED_COLOUR, render_overlay
from src.eval.predictions import ScoredObject


def _has(picture, colour) -> bool:
    return bool((np.asarray(picture) == np.array(colour, dtype=np.uint8)).all(-1).any())


def test_both_sets_are_drawn_in_their_colours():
    image = Image.new("RGB", (128, 64), (255, 255, 255))
    gt = [DenseObject("a", "bbox_2d", (10, 10, 50, 40)), DenseObject("b", "line", (60, 50, 120, 50))]
    preds = [ScoredObject(DenseObject("a", "bbox_2d", (12, 10, 52, 40)), 0.8)]
    picture = render_overlay(image, gt, preds)
    assert picture.width == 512 and picture.height == 256 + 16  # scaled up 4x, legend strip on top
    assert _has(picture, GT_COLOUR) and _has(picture, PRED_COLOUR)
    only_gt = render_overlay(image, gt, [])
    assert _has(only_gt, GT_COLOUR)
    # the matched prediction is drawn solid: its top edge is a continuous red run
    row = np.asarray(picture)[16 + 40, 12 * 4 + 2: 52 * 4 - 2]
    assert (row == np.array(PRED_COLOUR, dtype=np.uint8)).all(-1).all()
