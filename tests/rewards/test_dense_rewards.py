"""Dense rewards: pure functions of (completion, ground truth)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from src.datasets.coordjson import COORD_FORMATS
from src.datasets.iou import comparison_boxes, iou_matrix
from src.datasets.records import DenseObject
from src.datasets.render import render_dense
from src.rewards import (
    FORMAT_PENALTY,
    DenseGroundTruth,
    cat_f1,
    dense_cat_f1_score,
    dense_format_score,
    dense_loc_fbeta_score,
    dense_parse_score,
    loc_fbeta,
    objects_from_dicts,
)
from src.rewards.matching import match_at_threshold


def comparison_box(obj: DenseObject) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = comparison_boxes([obj])[0].tolist()
    return (x1, y1, x2, y2)


def object_iou(a: DenseObject, b: DenseObject) -> float:
    return float(iou_matrix([a], [b])[0, 0])


W, H = 256, 192
GT = objects_from_dicts([
    {"desc": "red box", "bbox_2d": [10, 10, 50, 50]},
    {"desc": "blue triangle", "poly": [100.4, 100, 150, 100, 120, 150]},
    {"desc": "green line", "line": [5, 180, 200, 180]},
    {"desc": "red box", "bbox_2d": [180, 20, 230, 70]},
])
ALL = (dense_format_score, dense_parse_score, dense_loc_fbeta_score, dense_cat_f1_score)


def gt_of(fmt: str, objects=GT, prefix=None) -> DenseGroundTruth:
    return DenseGroundTruth(tuple(objects), W, H, fmt, prefix)


def shifted(objects, index: int, dx: float) -> list[DenseObject]:
    out = list(objects)
    o = out[index]
    out[index] = DenseObject(o.desc, o.kind, tuple(v + dx if k % 2 == 0 else v for k, v in enumerate(o.coords)))
    return out


@pytest.mark.parametrize("fmt", COORD_FORMATS)
def test_perfect_prediction_scores_one_for_every_reward(fmt):
    text = render_dense(GT, W, H, fmt) + "<|im_end|>"
    assert [f(text, gt_of(fmt)) for f in ALL] == [1.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("fmt", COORD_FORMATS)
def test_permuted_prediction_is_matched_by_hungarian(fmt):
    text = render_dense(GT[::-1], W, H, fmt, ordering="as_is")
    assert dense_loc_fbeta_score(text, gt_of(fmt)) == 1.0
    assert dense_cat_f1_score(text, gt_of(fmt)) == 1.0


def test_with_assistant_prefix():
    gt = gt_of("norm1000", prefix="<TASK=dense>")
    text = "<TASK=dense>\n" + render_dense(GT, W, H, "norm1000")
    assert [f(text, gt) for f in ALL] == [1.0, 1.0, 1.0, 1.0]
    missing = render_dense(GT, W, H, "norm1000")  # the objects are still read, the format is not perfect
    assert dense_loc_fbeta_score(missing, gt) == 1.0 and dense_format_score(missing, gt) < 1.0


@pytest.mark.parametrize("text", ["", '{"objects": []}', '{"objects": []}<|im_end|>'])
def test_empty_prediction_scores_zero(text):
    gt = gt_of("pixel")
    assert dense_parse_score(text, gt) == 0.0
    assert dense_loc_fbeta_score(text, gt) == 0.0
    assert dense_cat_f1_score(text, gt) == 0.0


def test_empty_prediction_for_empty_ground_truth_is_perfect():
    gt = gt_of("pixel", objects=())
    assert [f('{"objects": []}', gt) for f in ALL] == [1.0, 1.0, 1.0, 1.0]
    assert dense_loc_fbeta_score(render_dense(GT, W, H), gt) == 0.0  # hallucinated objects


@pytest.mark.parametrize("text", ["", "   ", "I see a red box.", "[1, 2, 3]", '{"boxes": [1, 2]}', "<|im_end|>"])
def test_unparsable_output_gets_the_format_penalty(text):
    gt = gt_of("pixel")
    assert dense_format_score(text, gt) == FORMAT_PENALTY
    assert [f(text, gt) for f in ALL[1:]] == [0.0, 0.0, 0.0]


def test_format_partial_credit_orders_outputs_by_how_well_formed_they_are():
    gt = gt_of("pixel")
    full = render_dense(GT, W, H)
    wrong = render_dense([DenseObject("cat", "bbox_2d", (0, 0, 1, 1))], W, H)  # well formed, all wrong
    truncated = full[: full.index("poly") + 10]  # first object complete, the second cut off
    header_only = '{"objects": ['
    chatter = "Here you go: " + full
    scores = {name: dense_format_score(t, gt) for name, t in
              {"random": "a b c", "header": header_only, "chatter": chatter, "truncated": truncated,
                   "wrong": wrong, "full": full}.items()}
    assert scores["random"] == FORMAT_PENALTY < scores["header"] < scores["chatter"] < scores["truncated"]
    assert scores["truncated"] < scores["wrong"] == scores["full"] == 1.0
    assert dense_loc_fbeta_score(wrong, gt) == 0.0 and dense_loc_fbeta_score(chatter, gt) == 1.0


def test_parse_is_the_fraction_of_emitted_objects_kept():
    gt = gt_of("pixel")
    text = ('{"objects": [{"desc": "a", "bbox_2d": [1, 2, 3, 4]}, {"desc": "", "bbox_2d": [1, 2, 3, 4]}, '
            '{"desc": "b", "line": [1, 2, 3, 4]}, {"desc": "c", "bbox_2d": [5, 5, 1, 1]}]}')
    assert dense_parse_score(text, gt) == pytest.approx(0.5)
    coord_text = render_dense(GT, W, H, "norm1000")  # numbers where coordinate tokens belong
    assert dense_parse_score(coord_text, gt_of("coord_tokens")) == 0.0
    assert dense_format_score(coord_text, gt_of("coord_tokens")) == pytest.approx(0.5)


@pytest.mark.parametrize("fmt", COORD_FORMATS)
def test_one_box_shifted_scores_between_and_monotone_in_the_shift(fmt):
    gt = gt_of(fmt)
    shifts = [0, 1, 2, 3, 4, 6, 8, 10, 12, 16, 20, 25, 30, 40, 60]
    loc = [dense_loc_fbeta_score(render_dense(shifted(GT, 0, dx), W, H, fmt), gt) for dx in shifts]
    assert loc[0] == 1.0
    assert all(0.0 < s < 1.0 for s in loc[2:])  # the other three objects still match
    assert all(b <= a for a, b in itertools.pairwise(loc)), loc
    assert loc[-1] < loc[4] < loc[1]  # it does go down
    # at most one object of four is lost: F1 stays >= 2 * 3 / 8
    assert min(loc) == pytest.approx(0.75)


def test_loc_fbeta_counts_thresholds_passed():
    gts = objects_from_dicts([{"desc": "a", "bbox_2d": [0, 0, 100, 100]}])
    pred = objects_from_dicts([{"desc": "a", "bbox_2d": [0, 0, 100, 80]}])  # IoU 0.8
    # passes 0.50 .. 0.80 (7 of 10 thresholds) with F1 = 1
    assert loc_fbeta(pred, gts) == pytest.approx(0.7)
    assert loc_fbeta(pred, gts, thresholds=(0.5,)) == 1.0
    two = objects_from_dicts([{"desc": "a", "bbox_2d": [0, 0, 100, 100]}, {"desc": "b", "bbox_2d": [0, 0, 1, 1]}])
    assert loc_fbeta(two, gts, thresholds=(0.5,)) == pytest.approx(2 / 3)  # P = 1/2, R = 1
    assert loc_fbeta(two, gts, beta=2.0, thresholds=(0.5,)) == pytest.approx(5 * 0.5 / (4 * 0.5 + 1))


def test_hungarian_beats_greedy_on_a_conflict():
    # pred 0 overlaps gt 0 best (0.9) but also gt 1 (0.6); pred 1 overlaps only gt 0 (0.6).
    # Greedy (best IoU first) matches one pair at 0.5; the optimal matching has two.
    iou = np.array([[0.9, 0.6], [0.6, 0.0]])
    assert sorted(match_at_threshold(iou, 0.5)) == [(0, 1), (1, 0)]
    assert match_at_threshold(iou, 0.7) == [(0, 0)]


def test_geometry_kinds_do_not_match_and_lines_have_a_band():
    box = DenseObject("a", "bbox_2d", (0, 0, 100, 10))
    poly = DenseObject("a", "poly", (0, 0, 100, 0, 100, 10, 0, 10))
    assert object_iou(box, poly) == 0.0
    line = DenseObject("l", "line", (0, 50, 200, 50))
    assert comparison_box(line) == (0, 45.0, 200, 55.0)  # 5% of 200 px
    near = DenseObject("l", "line", (0, 52, 200, 52))
    assert 0.5 < object_iou(line, near) < 1.0


def test_category_f1_needs_location_and_desc():
    gts = objects_from_dicts([{"desc": "Red Box", "bbox_2d": [0, 0, 50, 50]},
                              {"desc": "blue box", "bbox_2d": [100, 100, 150, 150]}])
    same = objects_from_dicts([{"desc": "red  box!", "bbox_2d": [1, 1, 50, 50]},
                               {"desc": "blue_box", "bbox_2d": [100, 100, 150, 150]}])
    assert cat_f1(same, gts) == 1.0
    swapped = objects_from_dicts([{"desc": "blue box", "bbox_2d": [0, 0, 50, 50]},
                                  {"desc": "red box", "bbox_2d": [100, 100, 150, 150]}])
    assert cat_f1(swapped, gts) == 0.0
    far = objects_from_dicts([{"desc": "red box", "bbox_2d": [200, 0, 250, 50]}])  # right desc, wrong place
    assert cat_f1(far, gts) == 0.0
    half = objects_from_dicts([{"desc": "red circle", "bbox_2d": [0, 0, 50, 50]}])
    assert cat_f1(half, gts) == 0.0
    assert cat_f1(half, gts, how="token_f1") == pytest.approx(2 * 0.5 / 3)


def test_category_matching_prefers_the_pair_with_the_right_desc():
    gts = objects_from_dicts([{"desc": "cat", "bbox_2d": [0, 0, 100, 100]},
                              {"desc": "dog", "bbox_2d": [0, 0, 100, 90]}])
    # one prediction overlapping both; IoU is higher with "cat" but its desc is "dog"
    pred = objects_from_dicts([{"desc": "dog", "bbox_2d": [0, 0, 100, 99]}])
    assert cat_f1(pred, gts) == pytest.approx(2 / 3)


def test_ground_truth_from_arrow_style_rows():
    rows = [{"desc": "a", "bbox_2d": [1, 2, 3, 4], "poly": None, "line": None},
            {"desc": "b", "bbox_2d": None, "poly": None, "line": [1, 1, 5, 5]}]
    objs = objects_from_dicts(rows)
    assert [o.kind for o in objs] == ["bbox_2d", "line"]
    with pytest.raises(ValueError, match="exactly one"):
        objects_from_dicts([{"desc": "a"}])
    with pytest.raises(ValueError, match="coord_format"):
        DenseGroundTruth(objs, W, H, "pixels")
