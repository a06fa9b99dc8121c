"""Each format -> our JSONL: files written by a third-party writer (globox) where one exists, boxes
equal to the source's within 1e-6 px in the contract's frame, names kept, negatives kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from src.datasets.validate import validate_jsonl
from tests.support.detection_fixtures import (
    BOXES,
    SIZES,
    VOC_EXPECTED,
    coco_with_polygons,
    converter_args,
    labelme_shapes,
    lvis_file,
    odvg_rows,
    read_jsonl,
)


def assert_matches(records: list[dict], expected: dict, out: Path) -> None:
    assert [Path(r["images"][0]).name for r in records] == list(expected)
    for r in records:
        name = Path(r["images"][0]).name
        assert (out.parent / r["images"][0]).is_file()  # relative to the JSONL
        assert (r["width"], r["height"]) == SIZES[name]
        got = [(o["desc"], o["bbox_2d"]) for o in r["objects"]]
        assert [d for d, _ in got] == [n for n, _ in expected[name]]
        for (_, box), (_, want) in zip(got, expected[name]):
            assert box == pytest.approx(list(want), abs=1e-6)
    assert validate_jsonl(out).ok


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc", "labelme"])
def test_globox_written_dataset_converts_exactly(fmt, tmp_path, convert):
    out = tmp_path / "out" / "train.jsonl"
    code, stdout, _, report = convert(*converter_args(fmt, tmp_path / fmt), "--out", out)
    assert code == 0
    assert_matches(read_jsonl(out), VOC_EXPECTED if fmt == "voc" else BOXES, out)
    assert report["records"] == 3 and report["negatives"] == 1 and report["objects"] == {"bbox_2d": 3}
    assert sorted(report["categories"]) == ["cat", "dog", "traffic light"]
    assert "traffic light" in stdout and "records written" in stdout
    table = json.loads(out.with_name("train.categories.json").read_text())["categories"]
    ids = {c["name"]: c["id"] for c in table}
    assert ids == ({"cat": 0, "dog": 1, "traffic light": 2} if fmt == "yolo" else {"cat": 1, "dog": 2, "traffic light": 3})


def test_drop_empty_and_desc_map(tmp_path, convert):
    args = converter_args("coco", tmp_path / "coco")
    desc_map = tmp_path / "map.yaml"
    desc_map.write_text("cat: animal\ndog: animal\ntraffic light: null\nzebra: animal\n")
    out = tmp_path / "out.jsonl"
    code, _, err, report = convert(*args, "--out", out, "--desc-map", desc_map, "--drop-empty")
    assert code == 0
    records = read_jsonl(out)
    # b.png's only object was dropped, so b.png and c.png have no objects and are left out
    assert [[o["desc"] for o in r["objects"]] for r in records] == [["animal", "animal"]]
    assert report["skipped"] == {"dropped by --desc-map": 1, "image without objects (--drop-empty)": 2}
    assert report["categories"]["animal"] == {"id": 1, "sources": ["cat", "dog"], "objects": 2}
    assert "zebra" in err  # a desc-map entry no category uses is a warning


def test_coco_polygons_crowd_and_rle(tmp_path, convert):
    ann = coco_with_polygons(tmp_path)
    out = tmp_path / "out" / "train.jsonl"
    code, _, _, report = convert("coco", ann, "--images", tmp_path / "images", "--out", out)
    assert code == 0
    b_rec, a_rec = read_jsonl(out)  # records follow COCO's image ids: 3 before 7
    assert a_rec["metadata"] == {"image_id": 7} and b_rec["metadata"] == {"image_id": 3}
    dog, person = a_rec["objects"]
    assert dog == {"desc": "dog", "poly": [2, 2, 20, 2, 20, 15, 2, 15]}
    xs, ys = person["poly"][0::2], person["poly"][1::2]
    assert (min(xs), min(ys), max(xs), max(ys)) == (30, 5, 60, 35)  # two parts joined: the union's box
    assert b_rec["objects"] == [{"desc": "person", "bbox_2d": [1.5, 2.5, 11.5, 22.5]}]  # RLE, not crowd: its bbox
    assert report["skipped"] == {"iscrowd (crowd region)": 1}
    assert report["categories"]["dog"]["id"] == 18 and report["categories"]["person"]["id"] == 1
    code, *_ = convert("coco", ann, "--images", tmp_path / "images", "--out", out, "--geometry", "bbox",
                       "--crowd", "box")
    a_rec = read_jsonl(out)[1]
    assert [o["bbox_2d"] for o in a_rec["objects"]] == [[2, 2, 20, 15], [30, 5, 60, 35], [0, 30, 20, 40]]


def test_lvis_file_names_come_from_coco_url(tmp_path, convert):
    ann = lvis_file(tmp_path)
    out = tmp_path / "lvis.jsonl"
    code, *_ = convert("lvis", ann, "--images", tmp_path / "val2017", "--out", out)
    assert code == 0
    (rec,) = read_jsonl(out)
    assert rec["images"] == ["val2017/a.png"]
    assert rec["objects"] == [{"desc": "aerosol_can", "poly": [3.25, 4.5, 20.75, 4.5, 20.75, 30.125]}]


def test_labelme_polygons_lines_and_unsupported_shapes(tmp_path, convert):
    labelme_shapes(tmp_path)
    out = tmp_path / "out.jsonl"
    code, _, _, report = convert("labelme", "--annotations", tmp_path, "--out", out)
    assert code == 0
    (rec,) = read_jsonl(out)
    assert rec["objects"] == [{"desc": "roof", "poly": [1, 1, 20.5, 1, 10, 15.25]},
                              {"desc": "wire", "line": [0, 40, 63, 41]},
                              {"desc": "road edge", "line": [0, 47, 30, 30, 64, 20]},
                              {"desc": "box", "bbox_2d": [40, 10, 50, 30]}]
    assert report["objects"] == {"poly": 1, "line": 2, "bbox_2d": 1}
    assert report["skipped"] == {"LabelMe circle shape (no contract geometry)": 1,
                                 "LabelMe point shape (no contract geometry)": 1}


def test_odvg_detection_rows(tmp_path, convert):
    src, label_map = odvg_rows(tmp_path)
    out = tmp_path / "out.jsonl"
    code, _, _, report = convert("odvg", src, "--images", tmp_path / "imgs", "--label-map", label_map, "--out", out)
    assert code == 0
    a, c = read_jsonl(out)
    assert a["objects"] == [{"desc": "cat", "bbox_2d": [3.25, 4.5, 20.75, 30.125]},
                            {"desc": "dog", "bbox_2d": [30.5, 10.0, 60.0, 44.25]}]
    assert c["objects"] == [] and report["negatives"] == 1
    assert report["skipped"] == {"grounding row (only detection rows are converted)": 1}
