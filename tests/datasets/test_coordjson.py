"""CoordJSON transpiler: strict errors with positions, salvage of broken rollouts, parse_prediction."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from src.datasets.coordjson import (
    DROP_REASONS,
    CoordJSONError,
    coord_token,
    dequantize,
    parse_prediction,
    quantize,
    transpile,
)
from src.datasets.records import DenseObject


def tok(*bins: int) -> str:
    return ", ".join(coord_token(b) for b in bins)


DOC = (
    '{"objects": ['
    f'{{"desc": "a", "bbox_2d": [{tok(1, 2, 30, 40)}]}}, '
    f'{{"desc": "b", "poly": [{tok(5, 6, 70, 8, 9, 100)}]}}, '
    f'{{"desc": "c", "line": [{tok(11, 12, 13, 14)}]}}'
    ']}'
)
DOC_JSON = ('{"objects": [{"desc": "a", "bbox_2d": [1, 2, 30, 40]}, {"desc": "b", "poly": [5, 6, 70, 8, 9, 100]}, '
            '{"desc": "c", "line": [11, 12, 13, 14]}]}')


# ------------------------------------------------------------------ quantization

def test_quantize_edges_and_half_up_rounding():
    assert quantize(0, 640) == 0
    assert quantize(640, 640) == 999
    assert quantize(-5, 640) == 0 and quantize(700, 640) == 999  # clamped
    assert quantize(0.5, 999) == 1  # exactly half a bin rounds up
    assert quantize(0.4999, 999) == 0
    assert quantize(2.5, 999) == 3  # not banker's rounding
    assert dequantize(999, 640) == 640.0 and dequantize(0, 640) == 0.0
    with pytest.raises(ValueError):
        quantize(1, 0)
    with pytest.raises(ValueError):
        coord_token(1000)
    with pytest.raises(ValueError):
        coord_token(True)


def test_quantization_round_trips_within_half_a_bin():
    rng = np.random.default_rng(0)
    for size in rng.integers(1, 5000, size=200).tolist():
        xs = np.concatenate([rng.uniform(0, size, 50), [0.0, float(size)]])
        half_bin = size / 999 / 2
        for x in xs.tolist():
            q = quantize(x, size)
            assert 0 <= q <= 999
            assert abs(dequantize(q, size) - x) <= half_bin + 1e-9


# ------------------------------------------------------------------ strict transpile

def test_strict_transpile_turns_tokens_into_ints():
    res = transpile(DOC)
    assert res.json_text == DOC_JSON
    assert res.complete and not res.dropped and res.error is None
    assert res.positions == (13, DOC.index('{"desc": "b"'), DOC.index('{"desc": "c"'))


@pytest.mark.parametrize("sep", ["", " ", "\n", " , ", ","])
def test_comma_between_coord_tokens_is_optional(sep):
    text = '{"objects": [{"desc": "a", "line": [' + sep.join(coord_token(b) for b in (4, 3, 2, 1)) + "]}]}"
    assert transpile(text).json_text == '{"objects": [{"desc": "a", "line": [4, 3, 2, 1]}]}'


def test_whitespace_everywhere_json_allows_it():
    text = '\n {\n"objects" :\t[ { "desc" : "a" , "bbox_2d" : [ <|coord_1|> <|coord_2|> <|coord_3|> <|coord_4|> ] } ] }\n'
    assert transpile(text).json_text == '{"objects": [{"desc": "a", "bbox_2d": [1, 2, 3, 4]}]}'


def test_empty_object_list_and_unicode_desc():
    assert transpile('{"objects": []}').json_text == '{"objects": []}'
    text = '{"objects": [{"desc": "\\u7ea2\\"\u6846", "line": [<|coord_0|>, <|coord_999|>, <|coord_5|>, <|coord_6|>]}]}'
    assert json.loads(transpile(text).json_text)["objects"][0]["desc"] == '\u7ea2"\u6846'


def _strict_error(text: str, coords: str = "tokens") -> CoordJSONError:
    with pytest.raises(CoordJSONError) as exc:
        transpile(text, "strict", coords)
    return exc.value


HEAD = '{"objects": ['


@pytest.mark.parametrize(
    ("text", "reason", "pos"),
    [
        (DOC[:-3], "truncated", len(DOC) - 3),
        (DOC[:41], "truncated", 39),                                   # inside a coord token
        (HEAD + '{"desc": "a", "line": [<|coord_1000|>, <|coord_1|>, <|coord_2|>, <|coord_3|>]}]}',
         "bad_coord_token", len(HEAD) + 23),
        (HEAD + '{"desc": "a", "line": [<|coord_1|>, <|coord_007|>, <|coord_2|>, <|coord_3|>]}]}',
         "bad_coord_token", len(HEAD) + 36),
        (HEAD + '{"desc": "a", "line": [<|coord_1|>, <|coord_x|>, <|coord_2|>, <|coord_3|>]}]}',
         "bad_coord_token", len(HEAD) + 36),
        (HEAD + '{"desc": "a", "color": "red", "line": [' + tok(1, 2, 3, 4) + "]}]}", "unknown_key", len(HEAD)),
        (HEAD + '{"line": [' + tok(1, 2, 3, 4) + "]}]}", "missing_desc", len(HEAD)),
        (HEAD + '{"desc": " ", "line": [' + tok(1, 2, 3, 4) + "]}]}", "missing_desc", len(HEAD)),
        (HEAD + '{"desc": "a", "desc": "b", "line": [' + tok(1, 2, 3, 4) + "]}]}", "duplicate_key", len(HEAD)),
        (HEAD + '{"desc": "a", "bbox_2d": [' + tok(1, 2, 3) + "]}]}", "bad_geometry", len(HEAD)),
        (HEAD + '{"desc": "a", "bbox_2d": [' + tok(30, 2, 1, 40) + "]}]}", "bad_geometry", len(HEAD)),
        (HEAD + '{"desc": "a", "poly": [' + tok(1, 2, 3, 4) + "]}]}", "bad_geometry", len(HEAD)),
        (HEAD + '{"desc": "a", "line": [' + tok(1, 2) + "]}]}", "bad_geometry", len(HEAD)),
        (HEAD + '{"desc": "a"}]}', "bad_geometry", len(HEAD)),
        (HEAD + '{"desc": "a", "line": [1, 2, 3, 4]}]}', "bad_geometry", len(HEAD)),
        (HEAD + '{"desc": "a", "line": [' + tok(1, 2, 3, 4) + '], "poly": [' + tok(1, 2, 3, 4, 5, 6) + "]}]}",
         "bad_geometry", len(HEAD)),
        (HEAD + '"a"]}', "not_object", len(HEAD)),
        (HEAD + '{"desc": "a" "line": [' + tok(1, 2, 3, 4) + "]}]}", "syntax", len(HEAD) + 13),
        (HEAD + '{"desc": "a", "line": [' + tok(1, 2, 3, 4) + "],}]}", "syntax", len(HEAD) + 75),
        (DOC + " <|im_end|>", "trailing_content", len(DOC) + 1),
        (DOC + "}", "trailing_content", len(DOC)),
        ('{"objects": [], "extra": 1}', "unknown_key", 0),
        ('{"items": []}', "unknown_key", 0),
        ('{"objects": {}}', "bad_document", 0),
        ('["objects"]', "bad_document", 0),
        ("", "truncated", 0),
        ("Sure! " + DOC, "syntax", 0),
    ],
)
def test_strict_mode_raises_a_typed_error_with_position(text, reason, pos):
    err = _strict_error(text)
    assert (err.reason, err.pos) == (reason, pos), str(err)
    assert err.reason in (*DROP_REASONS, "bad_document", "trailing_content")
    assert f"(char {pos})" in str(err)


def test_error_reports_line_and_column():
    text = '{"objects": [\n  {"desc": "a",\n   "line": [<|coord_1|>, <|coord_2000|>]}]}'
    err = _strict_error(text)
    assert (err.reason, err.line, err.col) == ("bad_coord_token", 3, 26)
    assert str(err).startswith("bad_coord_token: coordinate token <|coord_2000|> is not in")


def test_numbers_mode_rejects_coord_tokens_and_non_numbers():
    base = HEAD + '{"desc": "a", "line": [%s]}]}'
    assert transpile(base % "1, 2.5, 3, 4e1", coords="numbers").json_text == (
        '{"objects": [{"desc": "a", "line": [1, 2.5, 3, 40.0]}]}')
    assert _strict_error(base % tok(1, 2, 3, 4), "numbers").reason == "bad_coord_token"
    assert _strict_error(base % '1, "2", 3, 4', "numbers").reason == "bad_geometry"
    assert _strict_error(base % "1, true, 3, 4", "numbers").reason == "bad_geometry"
    assert _strict_error(base % "1, 1e999, 3, 4", "numbers").reason == "bad_geometry"
    assert _strict_error(base % "1, NaN, 3, 4", "numbers").reason == "syntax"
    assert _strict_error(base % "1, 2 3, 4", "numbers").reason == "syntax"  # commas needed between numbers
    assert _strict_error(base % "01, 2, 3, 4", "numbers").reason == "syntax"


def test_bad_mode_is_a_programming_error():
    with pytest.raises(ValueError, match="mode must be one of"):
        transpile(DOC, "lenient")
    with pytest.raises(ValueError, match="coords must be"):
        transpile(DOC, coords="pixels")


# ------------------------------------------------------------------ salvage

def _object_ends(text: str) -> list[int]:
    """Index just past each object's closing brace in DOC-like text."""
    ends, depth = [], 0
    for i, ch in enumerate(text):
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if ch == "}" and depth == 2:
                ends.append(i + 1)
    return ends


def test_salvage_of_a_truncated_rollout_keeps_every_complete_object_at_every_cut():
    full = json.loads(DOC_JSON)["objects"]
    ends = _object_ends(DOC)
    assert len(ends) == 3
    for cut in range(len(DOC) + 1):
        res = transpile(DOC[:cut], "salvage")
        kept = json.loads(res.json_text)["objects"]
        n_complete = sum(e <= cut for e in ends)
        assert kept == full[:n_complete], cut
        last_end = max([e for e in ends if e <= cut], default=len(HEAD))
        started = n_complete < 3 and cut > len(HEAD) and DOC[last_end:cut].strip(", ") != ""
        assert res.dropped == (Counter({"truncated": 1}) if started else Counter()), (cut, DOC[:cut])
        assert res.complete == (cut == len(DOC))
        if cut < len(DOC):
            assert res.error.reason == "truncated"


def test_salvage_drops_broken_objects_by_reason_and_keeps_the_rest_in_order():
    parts = [
        f'{{"desc": "k1", "bbox_2d": [{tok(1, 2, 3, 4)}]}}',
        f'{{"desc": "x", "bbox_2d": [{tok(9, 2, 3, 4)}]}}',                # bad_geometry (x2 < x1)
        f'{{"desc": "k2", "line": [{tok(5, 6, 7, 8)}]}}',
        f'{{"line": [{tok(5, 6, 7, 8)}]}}',                                 # missing_desc
        '{"desc": "x", "line": [<|coord_5|>, <|coord_1234|>, <|coord_1|>, <|coord_2|>]}',  # bad_coord_token
        f'{{"desc": "x", "note": 1, "line": [{tok(5, 6, 7, 8)}]}}',          # unknown_key
        f'{{"desc": "x" "line": [{tok(5, 6, 7, 8)}]}}',                     # syntax (missing comma)
        '"just text"',                                                      # not_object
        f'{{"desc": "x", "desc": "y", "line": [{tok(5, 6, 7, 8)}]}}',        # duplicate_key
        f'{{"desc": "k3", "poly": [{tok(10, 11, 12, 13, 14, 15)}]}}',
    ]
    text = HEAD + ", ".join(parts) + "]}"
    res = transpile(text, "salvage")
    kept = json.loads(res.json_text)["objects"]
    assert [o["desc"] for o in kept] == ["k1", "k2", "k3"]
    assert kept[2]["poly"] == [10, 11, 12, 13, 14, 15]
    assert res.dropped == Counter({"bad_geometry": 1, "missing_desc": 1, "bad_coord_token": 1, "unknown_key": 1,
                                   "syntax": 1, "not_object": 1, "duplicate_key": 1})
    assert res.positions == (len(HEAD), text.index('{"desc": "k2"'), text.index('{"desc": "k3"'))
    assert not res.complete
    assert res.error.reason == "bad_geometry"  # the first problem in the text
    with pytest.raises(CoordJSONError):
        transpile(text, "strict")


def test_salvage_reads_objects_with_a_missing_comma_between_them():
    a = f'{{"desc": "a", "line": [{tok(1, 2, 3, 4)}]}}'
    b = f'{{"desc": "b", "line": [{tok(5, 6, 7, 8)}]}}'
    res = transpile(HEAD + a + " " + b + "]}", "salvage")
    assert [o["desc"] for o in json.loads(res.json_text)["objects"]] == ["a", "b"]
    assert res.dropped == Counter() and not res.complete and res.error.reason == "syntax"


def test_salvage_keeps_objects_before_trailing_garbage_and_trailing_comma():
    a = f'{{"desc": "a", "line": [{tok(1, 2, 3, 4)}]}}'
    res = transpile(HEAD + a + ", ]}", "salvage")
    assert [o["desc"] for o in json.loads(res.json_text)["objects"]] == ["a"]
    assert res.error.reason == "syntax" and not res.dropped
    res = transpile(HEAD + a + "]} and more", "salvage")
    assert [o["desc"] for o in json.loads(res.json_text)["objects"]] == ["a"]
    assert res.error.reason == "trailing_content"


@pytest.mark.parametrize("text", ["", "I cannot see any objects.", '{"items": [', "[1, 2]", "{"])
def test_salvage_of_text_without_a_document_header_keeps_nothing(text):
    res = transpile(text, "salvage")
    assert res.json_text == '{"objects": []}'
    assert not res.complete and not res.dropped


def test_coordinates_are_never_dropped_or_reordered():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(2, 40))
        bins = rng.integers(0, 1000, size=2 * n).tolist()
        text = HEAD + '{"desc": "p", "line": [' + " ".join(coord_token(b) for b in bins) + "]}]}"
        for mode in ("strict", "salvage"):
            assert json.loads(transpile(text, mode).json_text)["objects"][0]["line"] == bins


# ------------------------------------------------------------------ parse_prediction

def test_parse_prediction_dequantizes_tokens_to_pixels():
    res = parse_prediction(DOC, "coord_tokens", 999, 1998, "strict")
    assert res.valid and res.error is None and res.n_dropped == 0
    assert res.objects[0] == DenseObject("a", "bbox_2d", (1.0, 4.0, 30.0, 80.0))
    assert [o.kind for o in res.objects] == ["bbox_2d", "poly", "line"]


def test_parse_prediction_norm1000_and_pixel():
    text = HEAD + '{"desc": "a", "bbox_2d": [0, 0, 999, 999]}]}'
    assert parse_prediction(text, "norm1000", 640, 480).objects[0].coords == (0.0, 0.0, 640.0, 480.0)
    assert parse_prediction(text, "pixel", 1000, 1000).objects[0].coords == (0, 0, 999, 999)
    res = parse_prediction(text, "pixel", 640, 480)
    assert res.objects == () and res.dropped == Counter({"bad_geometry": 1}) and not res.valid
    assert "outside the image" in str(res.error)
    res = parse_prediction(HEAD + '{"desc": "a", "bbox_2d": [0, 0, 9.5, 9]}]}', "norm1000", 640, 480)
    assert res.dropped == Counter({"bad_geometry": 1})
    res = parse_prediction(DOC, "norm1000", 640, 480)
    assert res.dropped == Counter({"bad_coord_token": 3}) and res.objects == ()


def test_parse_prediction_strict_never_raises_on_bad_text():
    res = parse_prediction(DOC[:-5], "coord_tokens", 100, 100, "strict")
    assert res.objects == () and not res.valid
    assert res.dropped == Counter({"truncated": 1}) and res.error.reason == "truncated"
    res = parse_prediction(DOC[:-5], "coord_tokens", 100, 100, "salvage")
    assert [o.desc for o in res.objects] == ["a", "b"] and not res.valid
    assert res.dropped == Counter({"truncated": 1})


def test_parse_prediction_ignores_chat_end_tokens_and_checks_prefix():
    res = parse_prediction(DOC + "<|im_end|>\n", "coord_tokens", 100, 100, "strict")
    assert res.valid and len(res.objects) == 3
    prefix = "<DOMAIN=synthetic>, <TASK=dense>\n"
    res = parse_prediction(prefix + DOC, "coord_tokens", 100, 100, "strict", prefix=prefix)
    assert res.valid and len(res.objects) == 3
    res = parse_prediction(DOC, "coord_tokens", 100, 100, "strict", prefix=prefix)
    assert not res.valid and res.error.reason == "bad_prefix" and res.objects == ()
    res = parse_prediction("<DOMAIN=other>\n" + DOC, "coord_tokens", 100, 100, "salvage", prefix=prefix)
    assert len(res.objects) == 3 and not res.valid and res.error.reason == "bad_prefix"


def test_parse_prediction_rejects_unknown_options():
    with pytest.raises(ValueError, match="coord_format"):
        parse_prediction(DOC, "tokens", 1, 1)
    with pytest.raises(ValueError, match="mode"):
        parse_prediction(DOC, "coord_tokens", 1, 1, "loose")


def test_module_states_the_no_json_loads_rule():
    import src.datasets.coordjson as mod

    assert "nothing in this project calls ``json.loads``" in mod.__doc__
