"""Completions -> objects in the record's original frame, with per-object confidence (src/eval/completion.py)."""

from __future__ import annotations

import math

import pytest

from src.datasets.image_frame import ImageFrame, fit_record
from src.datasets.records import DenseObject, Record
from src.datasets.render import render_target
from src.eval.completion import CONSTANT, MEAN_TOKEN_LOGPROB, TokenLogprobs, parse_completion

FRAME = ImageFrame(factor=32, min_pixels=0, max_pixels=65536)
RECORD = Record(images=("x.png",), width=200, height=120, objects=(
    DenseObject("box", "bbox_2d", (10, 20, 110, 95)),
    DenseObject("roof", "poly", (20.5, 100.5, 60, 70, 100.25, 100.5)),
    DenseObject("wire", "line", (5, 5, 195, 7, 150, 115)),
))


def coords(objects):
    return [c for o in objects for c in o.coords]


def test_frame_resizes_the_record():
    assert FRAME.size(200, 120) == (192, 128)  # the template's frame: the model sees another size


def test_pixel_output_in_the_seen_frame_maps_back_by_the_exact_ratio():
    text = '{"objects": [{"desc": "box", "bbox_2d": [96, 64, 192, 128]}]}'
    got = parse_completion(text, coord_format="pixel", width=200, height=120, seen_size=(192, 128))
    assert got.objects[0].obj.coords == (100.0, 60.0, 200.0, 120.0)


def test_pixel_targets_as_trained_round_trip_to_the_original_frame():
    fitted, _ = fit_record(RECORD, [_image()], FRAME)
    text = render_target(fitted, coord_format="pixel", ordering="as_is")
    got = parse_completion(text, coord_format="pixel", width=200, height=120, seen_size=fitted_size(fitted))
    # the target rounds to whole pixels of the 192x128 frame: back within half a frame pixel
    tol = 0.5 * max(200 / 192, 120 / 128) + 1e-9
    assert [o.obj.kind for o in got.objects] == ["bbox_2d", "poly", "line"]
    assert coords(o.obj for o in got.objects) == pytest.approx(coords(RECORD.objects), abs=tol)


@pytest.mark.parametrize("fmt", ["norm1000", "coord_tokens"])
def test_normalised_outputs_dequantize_against_the_original_size(fmt):
    # norm1000 / coord tokens are relative: the resize does not change them
    text = render_target(RECORD, coord_format=fmt, ordering="as_is")
    got = parse_completion(text, coord_format=fmt, width=200, height=120, seen_size=(192, 128))
    assert coords(o.obj for o in got.objects) == pytest.approx(coords(RECORD.objects), abs=0.5 * 200 / 999 + 1e-9)
    edge = "<|coord_999|>, <|coord_0|>, <|coord_999|>, <|coord_999|>" if fmt == "coord_tokens" else "999, 0, 999, 999"
    got = parse_completion('{"objects": [{"desc": "e", "bbox_2d": [' + edge + ']}]}', coord_format=fmt,
                           width=200, height=120, seen_size=(192, 128))
    assert got.objects[0].obj.coords == (200.0, 0.0, 200.0, 120.0)


def test_confidence_is_the_mean_token_logprob_of_each_object_span():
    a = '{"desc": "a", "bbox_2d": [1, 2, 3, 4]}'
    b = '{"desc": "b", "bbox_2d": [5, 6, 7, 8]}'
    pieces = ['{"objects": [', a[:10], a[10:], ", ", b[:5], b[5:], "]}", "<|im_end|>"]
    lps = [0.0, math.log(0.9), math.log(0.9), -5.0, math.log(0.5), math.log(0.5), -7.0, 0.0]
    text = "".join(pieces[:-1])
    got = parse_completion(text, coord_format="pixel", width=10, height=10,
                           logprobs=TokenLogprobs(tuple(pieces), tuple(lps)))
    assert got.confidence == MEAN_TOKEN_LOGPROB
    assert [round(o.score, 6) for o in got.objects] == [0.9, 0.5]


def test_no_logprobs_or_misaligned_tokens_give_a_constant_score():
    text = '{"objects": [{"desc": "a", "bbox_2d": [1, 2, 3, 4]}]}'
    plain = parse_completion(text, coord_format="pixel", width=10, height=10)
    assert plain.confidence == CONSTANT and plain.objects[0].score == 1.0
    other = parse_completion(text, coord_format="pixel", width=10, height=10,
                             logprobs=TokenLogprobs(("something else",), (-1.0,)))
    assert other.confidence == CONSTANT


def test_garbage_is_counted_never_raised():
    got = parse_completion('{"objects": [{"desc": "a", "bbox_2d": [1, 2, 3, 4]}, {"desc": "b", "bbox_2d": [1, 2',
                           coord_format="pixel", width=10, height=10)
    assert len(got.objects) == 1 and got.parse.dropped["truncated"] == 1 and not got.parse.valid
    junk = parse_completion('": " " " "', coord_format="norm1000", width=10, height=10)
    assert junk.objects == () and not junk.parse.valid


def test_assistant_prefix_is_stripped():
    text = "<DOMAIN=x>\n" + '{"objects": [{"desc": "a", "bbox_2d": [1, 2, 3, 4]}]}'
    got = parse_completion(text, coord_format="pixel", width=10, height=10, prefix="<DOMAIN=x>\n")
    assert got.parse.valid and len(got.objects) == 1


def fitted_size(record):
    return (record.width, record.height)


def _image():
    from PIL import Image

    return Image.new("RGB", (200, 120))
