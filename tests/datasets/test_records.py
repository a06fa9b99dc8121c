"""The record contract (src/datasets/records.py): structure, geometry and strict JSON rules."""

from __future__ import annotations

import pytest

from src.datasets.records import (
    DenseObject,
    JsonLineError,
    Record,
    RecordError,
    RecordSource,
    check_object,
    check_record,
    geometry_problem,
    is_blank_line,
    loads_json_line,
    parse_record,
)


def good() -> dict:
    return {
        "images": ["images/a.png"],
        "width": 64,
        "height": 48,
        "objects": [
            {"desc": "red box", "bbox_2d": [1, 2, 30, 40]},
            {"desc": "tri", "poly": [0, 0, 64, 0, 32, 48]},
            {"desc": "wire", "line": [0.5, 1.5, 63.5, 47.5]},
        ],
        "summary": "three things",
        "metadata": {"domain": "synthetic"},
    }


def test_valid_record_parses_into_typed_objects():
    rec = parse_record(good(), RecordSource("data/train.jsonl", 3))
    assert rec.images == ("images/a.png",)
    assert (rec.width, rec.height) == (64, 48)
    assert [(o.desc, o.kind, o.coords) for o in rec.objects] == [
        ("red box", "bbox_2d", (1, 2, 30, 40)),
        ("tri", "poly", (0, 0, 64, 0, 32, 48)),
        ("wire", "line", (0.5, 1.5, 63.5, 47.5)),
    ]
    assert rec.summary == "three things"
    assert rec.metadata == {"domain": "synthetic"}
    assert str(rec.source) == "data/train.jsonl:3"
    assert rec.to_dict() == good()
    assert [str(p) for p in rec.image_paths()] == ["data/images/a.png"]


def test_optional_keys_may_be_absent_or_null():
    data = good()
    del data["summary"]
    data["metadata"] = None
    rec = parse_record(data)
    assert rec.summary is None and rec.metadata is None
    assert "summary" not in rec.to_dict() and "metadata" not in rec.to_dict()
    assert check_record({**good(), "objects": []}) == []


def test_image_paths_need_a_source():
    with pytest.raises(ValueError, match="no source file"):
        parse_record(good()).image_paths()


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d.update(extra=1),
         "unknown record key 'extra' (allowed: height, images, metadata, objects, summary, width)"),
        (lambda d: d.pop("width"), "missing required key 'width'"),
        (lambda d: d.update(images=[]), "images must be a non-empty list of non-empty path strings"),
        (lambda d: d.update(images="a.png"), "images must be a non-empty list of non-empty path strings"),
        (lambda d: d.update(width=64.0), "width must be a positive integer, got 64.0"),
        (lambda d: d.update(height=True), "height must be a positive integer, got True"),
        (lambda d: d.update(height=0), "height must be a positive integer, got 0"),
        (lambda d: d.update(objects={}), "objects must be a list, got dict"),
        (lambda d: d.update(summary=3), "summary must be a string, got int"),
        (lambda d: d.update(metadata=[1]), "metadata must be a JSON object, got list"),
        (lambda d: d["objects"].append("box"), "objects[3]: must be a JSON object, got str"),
        (lambda d: d["objects"][0].update(bbox=[1, 2, 3, 4]),
         "objects[0]: unknown object key 'bbox' (allowed: bbox_2d, desc, line, poly)"),
        (lambda d: d["objects"][1].pop("desc"), "objects[1]: missing desc"),
        (lambda d: d["objects"][1].update(desc="  "), "objects[1]: empty desc"),
        (lambda d: d["objects"][1].update(desc=5), "objects[1]: desc must be a string, got int"),
        (lambda d: d["objects"][0].pop("bbox_2d"),
         "objects[0]: no geometry (needs exactly one of bbox_2d, poly, line)"),
        (lambda d: d["objects"][2].update(poly=[0, 0, 1, 1, 2, 2]),
         "objects[2]: several geometries (poly, line); needs exactly one"),
        (lambda d: d["objects"][0].update(bbox_2d=[30, 2, 1, 40]), "objects[0]: bbox_2d: x2 (1) < x1 (30)"),
        (lambda d: d["objects"][0].update(bbox_2d=[1, 40, 30, 2]), "objects[0]: bbox_2d: y2 (2) < y1 (40)"),
        (lambda d: d["objects"][0].update(bbox_2d=[1, 2, 3]),
         "objects[0]: bbox_2d: needs 4 numbers [x1, y1, x2, y2], got 3"),
        (lambda d: d["objects"][1].update(poly=[0, 0, 10, 10]), "objects[1]: poly: needs at least 3 points, got 2"),
        (lambda d: d["objects"][1].update(poly=[0, 0, 10, 10, 5]),
         "objects[1]: poly: needs an even number of values (x, y pairs), got 5"),
        (lambda d: d["objects"][2].update(line=[0, 0]), "objects[2]: line: needs at least 2 points, got 1"),
        (lambda d: d["objects"][2].update(line=[0, 0, "1", 2]), "objects[2]: line: must be a flat list of numbers"),
        (lambda d: d["objects"][2].update(line=[0, 0, True, 2]), "objects[2]: line: must be a flat list of numbers"),
        (lambda d: d["objects"][2].update(line=[0, 0, float("nan"), 2]), "objects[2]: line: non-finite coordinate"),
        (lambda d: d["objects"][1].update(poly=[0, 0, 64.5, 0, 32, 48]),
         "objects[1]: poly: point 1 (64.5, 0) outside the image (0..64 x 0..48)"),
        (lambda d: d["objects"][0].update(bbox_2d=[-1, 2, 30, 40]),
         "objects[0]: bbox_2d: point 0 (-1, 2) outside the image (0..64 x 0..48)"),
        (lambda d: d["objects"][2].update(line=[0, 0, 10, 48.01]),
         "objects[2]: line: point 1 (10, 48.01) outside the image (0..64 x 0..48)"),
    ],
)
def test_each_contract_violation_is_reported_exactly(mutate, reason):
    data = good()
    mutate(data)
    assert check_record(data) == [reason]
    with pytest.raises(RecordError) as exc:
        parse_record(data, RecordSource("t.jsonl", 7))
    assert str(exc.value) == f"t.jsonl:7: {reason}"
    assert [(p.path, p.line, p.reason) for p in exc.value.problems] == [("t.jsonl", 7, reason)]


def test_points_on_the_image_border_are_inside():
    assert check_object({"desc": "x", "bbox_2d": [0, 0, 64, 48]}, 64, 48) == []


def test_all_problems_of_a_record_are_returned():
    data = good()
    data["bogus"] = 1
    data["objects"][0]["bbox_2d"] = [5, 5, 1, 1]
    data["objects"][1]["desc"] = ""
    assert check_record(data) == [
        "unknown record key 'bogus' (allowed: height, images, metadata, objects, summary, width)",
        "objects[0]: bbox_2d: x2 (1) < x1 (5)",
        "objects[1]: empty desc",
    ]


def test_non_object_record():
    assert check_record([1, 2]) == ["record must be a JSON object, got list"]


def test_coordinates_are_not_bounds_checked_when_size_is_invalid():
    data = good()
    data["width"] = -3
    assert check_record(data) == ["width must be a positive integer, got -3"]


def test_dense_object_validates_and_describes_its_geometry():
    obj = DenseObject("p", "poly", [4, 9, 1, 3, 7, 2])
    assert obj.coords == (4, 9, 1, 3, 7, 2)
    assert obj.points == [(4, 9), (1, 3), (7, 2)]
    assert obj.bounds == (1, 2, 7, 9)
    assert obj.to_dict() == {"desc": "p", "poly": [4, 9, 1, 3, 7, 2]}
    assert DenseObject.from_dict({"desc": "b", "bbox_2d": [1, 2, 3, 4]}) == DenseObject("b", "bbox_2d", (1, 2, 3, 4))
    with pytest.raises(ValueError, match="needs at least 3 points, got 2"):
        DenseObject("p", "poly", (0, 0, 1, 1))
    with pytest.raises(ValueError, match="non-empty desc"):
        DenseObject(" ", "line", (0, 0, 1, 1))
    with pytest.raises(ValueError, match="unknown object key 'z'"):
        DenseObject.from_dict({"desc": "b", "bbox_2d": [1, 2, 3, 4], "z": 1})


def test_geometry_problem_accepts_numpy_numbers():
    import numpy as np

    assert geometry_problem("line", [np.int64(1), np.float32(2.5), np.float64(3), 4]) is None


def test_record_equality_ignores_source():
    a = parse_record(good(), RecordSource("a.jsonl", 1))
    b = parse_record(good(), RecordSource("b.jsonl", 9))
    assert a == b
    assert isinstance(a, Record)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"a": 1,}', "bad JSON: Expecting property name enclosed in double quotes (column 9)"),
        (b'{"a": 1', "bad JSON: Expecting ',' delimiter (column 8)"),
        (b'{"a": NaN}', "non-finite number NaN is not valid JSON"),
        (b'{"a": -Infinity}', "non-finite number -Infinity is not valid JSON"),
        (b'{"a": 1e999}', "non-finite number 1e999 (overflows a float)"),
        (b'{"a": "\xff"}', "bad JSON: not valid UTF-8 (invalid start byte at byte 7)"),
        (b"   ", "bad JSON: Expecting value (column 4)"),
        (b'{"objects": [{"desc": "a", "line": [1, 2, 3, 4], "line": [5, 6, 7, 8]}]}',
         "duplicate key 'line' in a JSON object (one value would be lost)"),
    ],
)
def test_strict_json_lines(raw, message):
    with pytest.raises(JsonLineError) as exc:
        loads_json_line(raw)
    assert str(exc.value) == message


def test_json_line_parses_bytes_and_text():
    assert loads_json_line(b'{"a": [1, 2.5]}\n') == {"a": [1, 2.5]}
    assert loads_json_line('{"d": "\u00e9"}') == {"d": "\u00e9"}


def test_blank_line_rule():
    assert is_blank_line(b"") and is_blank_line(b"\r")
    assert not is_blank_line(b" ") and not is_blank_line(b"{}")


def test_data_contract_modules_import_no_heavy_stack():
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys\n"
        "import src.datasets.records, src.datasets.validate, src.datasets.jsonl_index\n"
        "import src.datasets.render, src.datasets.coordjson, src.datasets.visualize\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'swift') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                         cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
