"""Overlay pictures draw both sets: ground truth green, predictions red, matched solid, unmatched dashed,
readable on any content; a parse failure is drawn and labelled apart from an empty prediction."""

from __future__ import annotations

import numpy as np
from PIL import Image

from src.datasets.records import DenseObject
from src.eval.overlay import FAIL_COLOUR, GT_COLOUR, HALO, PRED_COLOUR, prediction_status, render_overlay
from src.eval.predictions import ScoredObject
from src.eval.score import EvalImage


def _has(picture, colour) -> bool:
    return bool((np.asarray(picture) == np.array(colour, dtype=np.uint8)).all(-1).any())


def test_both_sets_are_drawn_in_their_colours():
    image = Image.new("RGB", (128, 64), (255, 255, 255))
    gt = [DenseObject("a", "bbox_2d", (10, 10, 50, 40)), DenseObject("b", "line", (60, 50, 120, 50))]
    preds = [ScoredObject(DenseObject("a", "bbox_2d", (12, 10, 52, 40)), 0.8)]
    picture = render_overlay(image, gt, preds)
    legend_h = picture.height - 256
    assert picture.width == 512 and 16 <= legend_h <= 40  # scaled up 4x, legend strip on top
    assert _has(picture, GT_COLOUR) and _has(picture, PRED_COLOUR)
    only_gt = render_overlay(image, gt, [])
    assert _has(only_gt, GT_COLOUR)
    # the matched prediction is drawn solid: its top edge is a continuous red run
    row = np.asarray(picture)[legend_h + 40, 12 * 4 + 2: 52 * 4 - 2]
    assert (row == np.array(PRED_COLOUR, dtype=np.uint8)).all(-1).all()


def _count(picture, colour) -> int:
    return int((np.asarray(picture) == np.array(colour, dtype=np.uint8)).all(-1).sum())


def _image(**kw) -> EvalImage:
    gt = (DenseObject("a", "bbox_2d", (10, 10, 50, 40)),)
    return EvalImage(gt, kw.pop("preds", ()), 128, 64, **kw)


def test_a_parse_failure_is_drawn_and_labelled_apart_from_an_empty_prediction():
    image = Image.new("RGB", (128, 64), (255, 255, 255))
    failed = _image(completion='{"objects": [{"desc": "a", "bbox_2d": [1, 2', finish_reason="length",
                    parse_valid=False, parse_error="unterminated array (line 1, column 40)")
    empty = _image(completion='{"objects": []}', finish_reason="stop", parse_valid=True)
    s_failed, s_empty = prediction_status(failed), prediction_status(empty)
    assert s_failed.failed and s_failed.message == ("PARSE FAILED: unterminated array (line 1, column 40); "
                                                    "nothing salvaged")
    assert not s_empty.failed and s_empty.message == "valid answer, no objects predicted"
    truncated = prediction_status(_image(completion='{"obj', finish_reason="length", parse_valid=False))
    assert truncated.message == "PARSE FAILED: the output was cut at the token budget (finish_reason=length); " \
                                "nothing salvaged"
    assert prediction_status(_image(completion=" ", parse_valid=False)).message.startswith(
        "PARSE FAILED: the output is empty")
    pic_failed = render_overlay(image, failed.gts, failed.preds, s_failed)
    pic_empty = render_overlay(image, empty.gts, empty.preds, s_empty)
    assert _count(pic_failed, FAIL_COLOUR) > 1000 and _count(pic_empty, FAIL_COLOUR) == 0  # frame, legend, banner
    frame = np.asarray(pic_failed)[-2, 10:-10]  # the orange frame along the bottom edge
    assert (frame == np.array(FAIL_COLOUR, dtype=np.uint8)).all(-1).all()
    assert not np.array_equal(np.asarray(pic_failed), np.asarray(pic_empty))


def test_outlines_and_labels_stay_readable_on_their_own_colour():
    gt = [DenseObject("leaf", "bbox_2d", (10, 10, 50, 40))]
    preds = [ScoredObject(DenseObject("apple", "bbox_2d", (70, 10, 110, 40)), 0.9)]
    for background in (GT_COLOUR, PRED_COLOUR):  # green ground truth on green, red prediction on red
        picture = np.asarray(render_overlay(Image.new("RGB", (128, 64), background), gt, preds))
        edge = picture.shape[0] - 256 + 10 * 4  # the ground-truth box's top edge, 4x scale, below the legend
        column = picture[edge - 4: edge + 5, 30 * 4]  # across the edge, inside the box's width
        kinds = [tuple(int(v) for v in px) for px in column]
        halo = [i for i, k in enumerate(kinds) if k == HALO]
        assert kinds[0] == kinds[-1] == background and len(halo) >= 2  # the line is set off by dark rows
        assert halo[-1] - halo[0] >= 2 and {kinds[i] for i in range(halo[0] + 1, halo[-1])} == {GT_COLOUR}
    # labels sit in boxes of their set's colour with text of the contrasting shade
    picture = np.asarray(render_overlay(Image.new("RGB", (128, 64), (255, 255, 255)), gt, preds))
    assert _count(picture, GT_COLOUR) > 300 and _count(picture, PRED_COLOUR) > 300
