"""Strict filter over a salvage parse: kept predictions, drops by reason, invalid rollouts."""

from __future__ import annotations

from collections import Counter

import pytest

from src.datasets.coordjson import ParseResult, parse_prediction
from src.datasets.records import DenseObject
from src.stage2.strict_filter import ALL_DROP_REASONS, drop_counts, extra_drop_reason, strict_filter

W, H = 999, 999


def c(*bins: int) -> str:
    return ", ".join(f"<|coord_{b}|>" for b in bins)


def run(text: str, fmt: str = "coord_tokens", w: int = W, h: int = H):
    return strict_filter(parse_prediction(text, fmt, w, h, "salvage"), w, h)


def test_clean_document_keeps_everything_in_order():
    text = (f'{{"objects": [{{"desc": "b", "bbox_2d": [{c(5, 6, 50, 60)}]}}, '
            f'{{"desc": "a", "line": [{c(1, 2, 30, 2)}]}}]}}<|im_end|>')
    r = run(text)
    assert [o.desc for o in r.kept] == ["b", "a"]
    assert r.kept[0].coords == (5.0, 6.0, 50.0, 60.0)
    assert r.kept_indices == (0, 1)
    assert (r.n_valid_pred, r.n_drop_invalid, r.invalid_rollout) == (2, 0, False)


def test_truncated_tail_is_counted_not_invalid():
    text = f'{{"objects": [{{"desc": "b", "bbox_2d": [{c(5, 6, 50, 60)}]}}, {{"desc": "a", "bbox_2d": [<|coord_1'
    r = run(text)
    assert r.n_valid_pred == 1 and r.dropped == Counter(truncated=1)
    assert r.n_drop_invalid == 1 and not r.invalid_rollout


@pytest.mark.parametrize("geometry, bins", [
    ("bbox_2d", (5, 5, 5, 9)),          # zero width
    ("bbox_2d", (5, 9, 50, 9)),         # zero height
    ("poly", (1, 1, 5, 5, 9, 9)),       # collinear: zero area
    ("poly", (1, 1, 5, 5, 1, 1)),       # fewer than 3 distinct points
    ("line", (7, 7, 7, 7)),             # all points equal
])
def test_degenerate_geometry_is_dropped(geometry, bins):
    text = (f'{{"objects": [{{"desc": "x", "{geometry}": [{c(*bins)}]}}, '
            f'{{"desc": "ok", "bbox_2d": [{c(1, 1, 9, 9)}]}}]}}')
    r = run(text)
    assert [o.desc for o in r.kept] == ["ok"] and r.kept_indices == (1,)
    assert r.dropped == Counter(degenerate=1) and r.n_drop_invalid == 1
    assert not r.invalid_rollout


def test_horizontal_line_and_thin_poly_are_fine():
    assert extra_drop_reason(DenseObject("l", "line", (0, 5, 10, 5)), 20, 20) is None
    assert extra_drop_reason(DenseObject("p", "poly", (0, 0, 10, 0, 10, 1)), 20, 20) is None


def test_out_of_image_guard():
    parse = ParseResult((DenseObject("big", "bbox_2d", (0, 0, 300, 10)),
                         DenseObject("ok", "bbox_2d", (0, 0, 10, 10))), Counter(), True)
    r = strict_filter(parse, 256, 192)
    assert [o.desc for o in r.kept] == ["ok"] and r.dropped == Counter(out_of_image=1)


def test_parse_drops_are_carried_with_their_reasons():
    text = ('{"objects": [{"desc": "a", "bbox_2d": [1, 2, 300, 4]}, {"desc": "", "bbox_2d": [1, 2, 3, 4]}, '
            '{"desc": "b", "bbox_2d": [1, 2, 3, 4], "x": 1}, {"desc": "c", "bbox_2d": [1, 2, 3, 4]}]}')
    r = run(text, "pixel", 256, 192)
    assert [o.desc for o in r.kept] == ["c"]
    assert r.dropped == Counter(bad_geometry=1, missing_desc=1, unknown_key=1)
    assert r.n_drop_invalid == 3 and not r.invalid_rollout


@pytest.mark.parametrize("text", [
    "I see a red box.",
    "",
    '{"objects": [{"desc": "a", "bbox_2d": [<|coord_1|>, <|coo',
    '{"items": []}',
    '{"objects": [{"desc": "a", "bbox_2d": [<|coord_5|>, <|coord_5|>]}]}',
])
def test_nothing_parseable_is_an_invalid_rollout(text):
    r = run(text)
    assert r.invalid_rollout and r.kept == () and r.n_valid_pred == 0


def test_empty_document_is_a_valid_rollout():
    r = run('{"objects": []}<|im_end|>')
    assert not r.invalid_rollout and r.n_valid_pred == 0 and r.n_drop_invalid == 0


def test_all_objects_degenerate_in_a_clean_document_is_not_invalid():
    r = run(f'{{"objects": [{{"desc": "x", "bbox_2d": [{c(5, 5, 5, 9)}]}}]}}')
    assert not r.invalid_rollout and r.n_valid_pred == 0 and r.dropped == Counter(degenerate=1)


def test_drop_counts_lists_every_reason():
    r = run(f'{{"objects": [{{"desc": "x", "bbox_2d": [{c(5, 5, 5, 9)}]}}, {{"desc": "y", "bbox_2d": [<|coord_1')
    counts = drop_counts(r)
    assert list(counts) == list(ALL_DROP_REASONS)
    assert counts["degenerate"] == 1 and counts["truncated"] == 1
    assert sum(counts.values()) == r.n_drop_invalid
