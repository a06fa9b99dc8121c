"""Detection metrics pinned on hand-built prediction sets (src/eval/score.py, src/eval/coco.py)."""

from __future__ import annotations

import pytest

from src.datasets.records import DenseObject
from src.eval.predictions import ScoredObject
from src.eval.score import EvalImage, score_images

W, H = 200, 100


def box(desc: str, x1: float, y1: float, x2: float, y2: float) -> DenseObject:
    return DenseObject(desc, "bbox_2d", (x1, y1, x2, y2))


def scored(objs, score: float = 1.0):
    return tuple(ScoredObject(o, score) for o in objs)


GTS = (box("cat", 10, 10, 50, 50), box("dog", 100, 20, 180, 90), box("cat", 60, 60, 90, 95))


def image(gts, preds, **kw) -> EvalImage:
    return EvalImage(tuple(gts), tuple(preds), W, H, **kw)


def test_perfect_predictions_score_one_everywhere():
    m = score_images([image(GTS, scored(GTS)), image(GTS[:1], scored(GTS[:1]))])
    for key in ("bbox/map", "bbox/ap50", "bbox/ap75", "bbox/ar100", "bbox_agnostic/map"):
        assert m[key] == pytest.approx(1.0), key
    for key in ("match/f1@0.50", "match/f1@0.50:0.95", "match/cat_f1@0.50:0.95", "match/precision@0.95",
                "match/recall@0.95"):
        assert m[key] == pytest.approx(1.0), key
    assert m["per_category"]["cat"] == {"ap": pytest.approx(1.0), "ap50": pytest.approx(1.0), "f1@0.50": 1.0,
                                        "n_gt": 3, "n_pred": 3, "tp@0.50": 3}
    assert m["segm/map"] is None  # no polygon in the ground truth: undefined, not 0


def test_boxes_shifted_to_a_known_iou():
    # a 40x40 box shifted 10 px right: intersection 30x40, union 50x40 -> IoU 0.6
    gt = box("cat", 10, 10, 50, 50)
    m = score_images([image([gt], scored([box("cat", 20, 10, 60, 50)]))])
    assert m["match/f1@0.60"] == 1.0 and m["match/f1@0.65"] == 0.0
    # matched at 0.50, 0.55, 0.60 out of ten thresholds
    assert m["match/f1@0.50:0.95"] == pytest.approx(0.3)
    assert m["bbox/ap50"] == pytest.approx(1.0) and m["bbox/ap75"] == pytest.approx(0.0)
    assert m["bbox/map"] == pytest.approx(0.3)


def test_duplicates_are_false_positives_and_rank_below_the_true_detection():
    gt = box("cat", 10, 10, 50, 50)
    preds = (ScoredObject(gt, 0.9), ScoredObject(gt, 0.5))
    m = score_images([image([gt], preds)])
    assert m["match/precision@0.50"] == 0.5 and m["match/recall@0.50"] == 1.0
    assert m["match/f1@0.50"] == pytest.approx(2 / 3)
    # COCO: the higher-scored copy is the true positive, so AP stays 1.0
    assert m["bbox/map"] == pytest.approx(1.0)
    # reversed confidence puts the duplicate first: AP still 1.0 (recall 1 reached at precision 1/2 -> interp)
    flipped = score_images([image([gt], (ScoredObject(gt, 0.5), ScoredObject(gt, 0.9)))])
    assert flipped["bbox/map"] == pytest.approx(1.0)


def test_confidence_orders_detections_for_ap():
    gt = [box("cat", 10, 10, 50, 50), box("cat", 110, 10, 150, 50)]
    wrong = box("cat", 60, 60, 90, 95)
    good_first = score_images([image(gt, (ScoredObject(gt[0], .9), ScoredObject(wrong, .1), ScoredObject(gt[1], .8)))])
    bad_first = score_images([image(gt, (ScoredObject(gt[0], .9), ScoredObject(wrong, .95), ScoredObject(gt[1], .8)))])
    assert good_first["bbox/ap50"] > bad_first["bbox/ap50"]
    assert good_first["match/f1@0.50"] == bad_first["match/f1@0.50"]  # F1 ignores scores


def test_empty_predictions():
    m = score_images([image(GTS, ())])
    assert m["bbox/map"] == 0.0 and m["bbox/ar100"] == 0.0
    assert m["match/f1@0.50"] == 0.0 and m["match/recall@0.50"] == 0.0
    assert m["parse/mean_pred_objects"] == 0.0 and m["parse/mean_gt_objects"] == 3.0


def test_empty_ground_truth():
    only_fp = score_images([image((), scored(GTS))])
    assert only_fp["bbox/map"] is None  # COCO: nothing to recall
    assert only_fp["match/precision@0.50"] == 0.0 and only_fp["match/f1@0.50"] == 0.0
    # an image without objects adds its false positives to a set that has ground truth elsewhere
    mixed = score_images([image(GTS, scored(GTS, 0.5)), image((), scored([box("cat", 0, 0, 20, 20)], 0.99))])
    assert mixed["match/precision@0.50"] == pytest.approx(3 / 4)
    assert mixed["bbox/map"] < 1.0


def test_wrong_desc_counts_for_agnostic_but_not_category_metrics():
    m = score_images([image(GTS[:1], scored([box("dog", 10, 10, 50, 50)]))])
    assert m["match/f1@0.50"] == 1.0 and m["match/cat_f1@0.50"] == 0.0
    assert m["bbox_agnostic/map"] == pytest.approx(1.0) and m["bbox/map"] == pytest.approx(0.0)
    assert m["per_category"]["dog"]["ap"] is None and m["per_category"]["dog"]["n_pred"] == 1


def test_desc_is_normalised():
    m = score_images([image(GTS[:1], scored([box("  Cat ", 10, 10, 50, 50)]))])
    assert m["match/cat_f1@0.50"] == 1.0 and m["bbox/map"] == pytest.approx(1.0)


def test_polygons_get_segm_metrics_and_lines_match_with_the_project_line_rule():
    tri = DenseObject("roof", "poly", (10, 50, 50, 10, 90, 50))
    line = DenseObject("wire", "line", (10, 80, 190, 80))  # horizontal: its box is widened to 9 px
    m = score_images([image([tri, line], scored([tri, line]))])
    assert m["segm/map"] == pytest.approx(1.0)
    assert m["bbox/map"] == pytest.approx(1.0) and m["match/f1@0.95"] == 1.0
    # a line 3 px lower still overlaps its widened box: IoU (9-3)/(9+3) = 0.5
    low = DenseObject("wire", "line", (10, 83, 190, 83))
    m2 = score_images([image([line], scored([low]))])
    assert m2["match/f1@0.50"] == 1.0 and m2["match/f1@0.55"] == 0.0
    # a polygon never matches a box of the same extent (kinds differ)
    m3 = score_images([image([tri], scored([box("roof", 10, 10, 90, 50)]))])
    assert m3["match/f1@0.50"] == 0.0 and m3["segm/map"] == pytest.approx(0.0)


def test_per_dataset_and_parse_health():
    a = image(GTS, scored(GTS), dataset="a", completion="{...}", parse_valid=True, finish_reason="stop")
    b = image(GTS, (), dataset="b", completion="", parse_valid=False, finish_reason="length",
              dropped={"truncated": 2, "syntax": 1})
    m = score_images([a, b], confidence="mean_token_logprob")
    assert m["per_dataset"]["a"]["bbox/map"] == pytest.approx(1.0)
    assert m["per_dataset"]["b"]["bbox/map"] == 0.0
    assert m["parse/parse_rate"] == 0.5 and m["parse/empty_outputs"] == 1 and m["parse/truncated"] == 1
    assert m["parse/dropped/truncated"] == 2 and m["parse/objects_dropped"] == 3
    assert m["confidence"] == "mean_token_logprob" and m["n_images"] == 2
