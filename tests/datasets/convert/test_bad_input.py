"""Bad input: every bad item is listed with where it is (file and record / line), nothing is written
(exit 2) unless --skip-bad (exit 1: the other images written, the bad ones listed), no traceback."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.detection_fixtures import globox_coco, globox_labelme, globox_voc, globox_yolo, read_jsonl


def _coco(tmp_path: Path) -> tuple[Path, dict]:
    path = globox_coco(tmp_path)
    return path, json.loads(path.read_text())


def _expect_nothing_written(result, out: Path, *fragments: str) -> str:
    code, _, err, report = result
    assert code == 2, err
    assert not out.exists() and not out.with_name(out.stem + ".categories.json").exists()
    for f in fragments:
        assert f in err, (f, err)
    assert "nothing written" in err and "--skip-bad" in err
    assert report["written"] is False
    return err


def test_missing_image(tmp_path, convert):
    path, _ = _coco(tmp_path)
    (tmp_path / "images" / "b.png").unlink()
    out = tmp_path / "out.jsonl"
    _expect_nothing_written(convert("coco", path, "--images", tmp_path / "images", "--out", out), out,
                            f"{path}: images[1] (id 2): image {tmp_path / 'images' / 'b.png'}: not found")
    code, _, _, report = convert("coco", path, "--images", tmp_path / "images", "--out", out, "--skip-bad")
    assert code == 1 and report["bad_images"] == 1
    assert [Path(r["images"][0]).name for r in read_jsonl(out)] == ["a.png", "c.png"]


def test_category_id_with_no_name(tmp_path, convert):
    path, data = _coco(tmp_path)
    data["categories"][1].pop("name")  # dog (id 2)
    data["annotations"][0]["category_id"] = 99  # cat -> an id no category has
    path.write_text(json.dumps(data))
    out = tmp_path / "out.jsonl"
    _expect_nothing_written(convert("coco", path, "--images", tmp_path / "images", "--out", out), out,
                            f"{path}: categories[1]: category id 2 has no name",
                            f"{path}: annotations[0] (id 0): category_id 99 has no entry",
                            f"{path}: annotations[1] (id 1): category_id 2 has no entry")


def test_yolo_class_without_name_and_malformed_line(tmp_path, convert):
    images, names = globox_yolo(tmp_path)
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.1 0.1\n1 0.5 nan-ish 0.1\n")
    out = tmp_path / "out.jsonl"
    _expect_nothing_written(convert("yolo", "--images", images, "--names", names, "--out", out), out,
                            f"{tmp_path / 'labels' / 'a.txt'}:2: class id 7 has no name",
                            f"{tmp_path / 'labels' / 'a.txt'}:3: expected 'class cx cy w h'")


def test_box_outside_the_image_and_zero_area(tmp_path, convert):
    path, data = _coco(tmp_path)
    data["annotations"][0]["bbox"] = [50, 4, 20, 10]  # x2 = 70 > 64 (+1 px tolerance)
    data["annotations"][1]["bbox"] = [30.5, 10, 0, 34.25]  # zero width
    data["annotations"][2]["bbox"] = [-0.5, 0, 41, 12.5]  # within the 1 px tolerance: clamped, counted
    path.write_text(json.dumps(data))
    out = tmp_path / "out.jsonl"
    err = _expect_nothing_written(convert("coco", path, "--images", tmp_path / "images", "--out", out), out,
                                  f"{path}: annotations[0] (id 0): bbox_2d point (70, 14) lies outside the 64x48 image",
                                  f"{path}: annotations[1] (id 1): zero-area box")
    assert "annotations[2]" not in err
    code, _, _, report = convert("coco", path, "--images", tmp_path / "images", "--out", out, "--skip-bad")
    assert code == 1 and report["clamped_points"] == 2  # x1 -0.5 -> 0 and x2 40.5 -> 40
    assert read_jsonl(out)[0]["objects"] == [{"desc": "traffic light", "bbox_2d": [0, 0, 40, 12.5]}]


def test_stated_size_differs_from_the_image(tmp_path, convert):
    ann = globox_voc(tmp_path)
    xml = ann / "a.xml"
    xml.write_text(xml.read_text().replace("<width>64</width>", "<width>640</width>"))
    out = tmp_path / "out.jsonl"
    _expect_nothing_written(convert("voc", "--annotations", ann, "--out", out), out,
                            f"{xml}: the annotation says the image is 640x48 but", "is 64x48")


def test_malformed_files(tmp_path, convert):
    path, _ = _coco(tmp_path)
    path.write_text('{"images": [],\n "annotations": [}')
    out = tmp_path / "out.jsonl"
    code, _, err, _ = convert("coco", path, "--out", out)
    assert code == 2 and f"{path}:2: not valid JSON" in err and not out.exists()
    ann = globox_voc(tmp_path / "voc")
    (ann / "b.xml").write_text("<annotation><filename>b.png</filename>\n<object></annotation>")
    _expect_nothing_written(convert("voc", "--annotations", ann, "--out", out), out, f"{ann / 'b.xml'}:2: not valid XML")
    rows = tmp_path / "odvg.jsonl"
    rows.write_text('{"filename": "a.png", "detection": {"instances": []}}\n{"filename": \n')
    _expect_nothing_written(convert("odvg", rows, "--images", tmp_path / "images", "--out", out), out,
                            f"{rows}:2: bad JSON")
    desc_map = tmp_path / "map.yaml"
    desc_map.write_text("cat: animal\ndog: 3\n")
    code, _, err, _ = convert("coco", path, "--out", out, "--desc-map", desc_map)
    assert code == 2 and f"{desc_map}:2" in err and "non-empty desc" in err


def test_to_coco_of_a_bad_jsonl(tmp_path, convert):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"images": ["a.png"], "width": 8, "height": 8, "objects": [{"desc": "x", "bbox_2d": [1, 2, 30, 4]}]}\n')
    code, _, err, _ = convert("to-coco", bad, "--out", tmp_path / "out.json")
    assert code == 2 and f"{bad}:1" in err and "outside the image" in err


def test_yolo_label_without_image_and_labelme_shape_without_label(tmp_path, convert):
    images, names = globox_yolo(tmp_path / "yolo")
    (images / "b.png").unlink()
    out = tmp_path / "out.jsonl"
    _expect_nothing_written(convert("yolo", "--images", images, "--names", names, "--out", out), out,
                            f"{tmp_path / 'yolo' / 'labels' / 'b.txt'}: label file without an image")
    folder = globox_labelme(tmp_path / "lm")
    data = json.loads((folder / "a.json").read_text())
    data["shapes"][1]["label"] = " "
    (folder / "a.json").write_text(json.dumps(data))
    _expect_nothing_written(convert("labelme", "--annotations", folder, "--out", out), out,
                            f"{folder / 'a.json'}: shapes[1]: shape without a label")


def test_to_coco_refuses_two_records_with_one_image_id(tmp_path, convert):
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    rec = {"images": ["a.png"], "width": 8, "height": 8, "objects": []}
    path = tmp_path / "val.jsonl"
    # record 2 has no metadata.image_id, so its id is its record number, 2: record 1 claims it too
    path.write_text(json.dumps({**rec, "metadata": {"image_id": 2}}) + "\n" + json.dumps(rec) + "\n")
    code, _, err, _ = convert("to-coco", path, "--out", tmp_path / "out.json")
    assert code == 2 and f"{path}:2: image id 2 is also the id of {path}:1" in err
    assert not (tmp_path / "out.json").exists()
