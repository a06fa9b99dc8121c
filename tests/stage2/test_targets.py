"""Channel-B targets at text level: layout, formats, per-piece supervision policy."""

from __future__ import annotations

import pytest
from stage2_cases import GTS, MATCH, PREDS, H, W

from src.datasets.coordjson import parse_prediction
from src.datasets.records import DenseObject
from src.datasets.render import render_dense
from src.stage2.matching import MatchPair, MatchResult, match_objects
from src.stage2.targets import build_channel_b_target


def build(preds=PREDS, gts=GTS, match=MATCH, **kw):
    kw = {"width": W, "height": H, "coord_format": "coord_tokens", **kw}
    return build_channel_b_target(preds, gts, match, **kw)


@pytest.mark.parametrize("fmt", ["coord_tokens", "norm1000", "pixel"])
@pytest.mark.parametrize("prefix", [None, "<TASK=det>"])
def test_invalid_rollout_is_exactly_the_channel_a_target(fmt, prefix):
    t = build_channel_b_target(PREDS, GTS, MATCH, width=256, height=192, coord_format=fmt,
                               prefix=prefix, rollout_invalid=True)
    body = render_dense(GTS, 256, 192, fmt, "reading_order")
    assert t.text == ("" if prefix is None else prefix + "\n") + body + "<|im_end|>"
    assert [(o.kind, o.gt_index) for o in t.objects] == [("fn", 0), ("fn", 2), ("fn", 1)]
    assert all(p.loss for p in t.pieces) and t.rollout_invalid


def test_layout_kept_predictions_in_predicted_order_then_missed_gt_in_reading_order():
    t = build()
    assert t.text == (
        '{"objects": [{"desc": "ghost", "bbox_2d": [<|coord_500|>, <|coord_500|>, <|coord_600|>, <|coord_600|>]}, '
        '{"desc": "cat", "bbox_2d": [<|coord_12|>, <|coord_11|>, <|coord_98|>, <|coord_99|>]}, '
        '{"desc": "dog", "bbox_2d": [<|coord_200|>, <|coord_50|>, <|coord_300|>, <|coord_150|>]}, '
        '{"desc": "wire", "line": [<|coord_300|>, <|coord_800|>, <|coord_900|>, <|coord_800|>]}]}<|im_end|>')
    assert [(o.kind, o.pred_index, o.gt_index) for o in t.objects] == [
        ("fp", 0, None), ("matched", 1, 0), ("fn", None, 2), ("fn", None, 1)]
    assert (t.count("matched"), t.count("fp"), t.count("fn")) == (1, 1, 2)
    start, end = t.object_char_span(1)
    assert t.text[start:end] == '{"desc": "cat", "bbox_2d": [<|coord_12|>, <|coord_11|>, <|coord_98|>, <|coord_99|>]}'
    matched = t.objects[1]
    assert matched.coord_mode == "retarget"
    assert matched.coords_text == ("<|coord_12|>", "<|coord_11|>", "<|coord_98|>", "<|coord_99|>")
    assert matched.coord_labels == ("<|coord_10|>", "<|coord_10|>", "<|coord_100|>", "<|coord_100|>")
    # the prefix is the kept predictions re-serialized exactly as Channel A would write them
    assert t.text.startswith(render_dense(PREDS, W, H, "coord_tokens", "as_is")[:-2])


def _loss_by_role(t, obj):
    return {p.role: p.loss for p in t.pieces if p.obj == obj and p.role != "separator"}


def test_piece_supervision_policy():
    t = build()
    roles = ["open", "desc", "geometry_key", "coord", "coord_sep", "close"]
    assert _loss_by_role(t, 0) == dict.fromkeys(roles, False)                       # FP
    assert all(p.fp_zone for p in t.pieces if p.obj == 0)
    assert _loss_by_role(t, 1) == {"open": False, "desc": False, "geometry_key": False,
                                   "coord": True, "coord_sep": True, "close": True}  # matched
    assert _loss_by_role(t, 2) == dict.fromkeys(roles, True)                        # FN
    seps = [(p.obj, p.loss, p.fp_zone) for p in t.pieces if p.role == "separator"]
    assert seps == [(1, True, False), (2, True, False), (3, True, False)]
    head = [(p.role, p.loss) for p in t.pieces if p.obj is None]
    assert head == [("header", True), ("closure", True), ("end_of_turn", True)]
    retarget = [p.target for p in t.pieces if p.obj == 1 and p.role == "coord"]
    assert retarget == ["<|coord_10|>", "<|coord_10|>", "<|coord_100|>", "<|coord_100|>"]


def test_separator_before_an_fp_is_in_the_fp_zone():
    t = build(preds=list(reversed(PREDS)), match=MatchResult((MatchPair(0, 0, 0.9),), (1,), (1, 2)))
    sep = next(p for p in t.pieces if p.role == "separator")
    assert t.objects[sep.obj].kind == "fp" and sep.fp_zone and not sep.loss


@pytest.mark.parametrize("fmt", ["norm1000", "pixel"])
def test_numeric_formats_teacher_force_the_ground_truth_geometry(fmt):
    t = build(coord_format=fmt)
    matched = t.objects[1]
    assert matched.coord_mode == "teacher_force"
    assert matched.coords_text == matched.coord_labels == ("10", "10", "100", "100")
    assert '{"desc": "cat", "bbox_2d": [10, 10, 100, 100]}' in t.text
    assert all(p.target is None for p in t.pieces)
    with pytest.raises(ValueError, match="retarget"):
        build(coord_format=fmt, matched_coords="retarget")


def test_point_count_mismatch_falls_back_to_teacher_force():
    gt = [DenseObject("roof", "poly", (10, 10, 100, 10, 100, 100, 10, 100))]
    pred = [DenseObject("roof", "poly", (10, 10, 100, 10, 55, 100))]
    t = build(preds=pred, gts=gt, match=match_objects(pred, gt, iou_threshold=0.5))
    assert t.objects[0].kind == "matched" and t.objects[0].coord_mode == "teacher_force"
    assert t.objects[0].coords_text == tuple(f"<|coord_{v}|>" for v in (10, 10, 100, 10, 100, 100, 10, 100))


def test_ablation_switches():
    t = build(fp_policy="drop")
    assert [o.kind for o in t.objects] == ["matched", "fn", "fn"] and "ghost" not in t.text
    t = build(fn_injection=False)
    assert [o.kind for o in t.objects] == ["fp", "matched"] and "wire" not in t.text
    t = build(closure_supervision=False)
    assert [p.loss for p in t.pieces if p.role in ("closure", "end_of_turn")] == [False, False]
    t = build(end_of_turn=None)
    assert t.text.endswith("]}]}")


def test_empty_everything():
    t = build(preds=[], gts=[], match=MatchResult((), (), ()))
    assert t.text == '{"objects": []}<|im_end|>' and t.objects == ()


def test_round_trip_never_reorders_coordinates():
    t = build(end_of_turn=None)
    back = parse_prediction(t.text, "coord_tokens", W, H, "strict")
    assert back.valid
    assert [o.coords for o in back.objects] == [
        (500, 500, 600, 600), (12, 11, 98, 99), (200, 50, 300, 150), (300, 800, 900, 800)]


def test_rejects_a_match_that_does_not_partition():
    with pytest.raises(ValueError, match="partition"):
        build(match=MatchResult((MatchPair(1, 0, 0.9),), (), (1, 2)))
    with pytest.raises(ValueError, match="fp_policy"):
        build(fp_policy="penalize")
