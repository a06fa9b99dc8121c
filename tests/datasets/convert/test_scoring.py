"""Converted ground truth scored as predictions through `python -m src.eval --predictions` is perfect;
COCO -> ours -> to-coco round-trips; `--coco` predictions reproduce bbox/map under COCOeval.

No model loads: --predictions only scores (the config gives the split and the target format)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from globox import Annotation, AnnotationSet, BoundingBox
from PIL import Image

from src.datasets.convert.__main__ import main as convert_main
from src.eval.__main__ import main as eval_main
from tests.support.detection_fixtures import (
    DATASETS,
    coco_eval,
    converter_args,
    fusion_for,
    ground_truth_as_predictions,
    read_jsonl,
)

PRESET = "configs/smoke/sft_dense_tiny.yaml"


def convert(args: list, out: Path) -> Path:
    with contextlib.redirect_stdout(io.StringIO()):
        assert convert_main([*map(str, args), "--out", str(out)]) == 0
    return out


def evaluate(jsonl: Path, predictions: Path, out: Path, *extra: str) -> dict:
    fusion = fusion_for(jsonl, out.parent / f"{out.name}_fusion.yaml")
    code = eval_main(["--config", PRESET, "--predictions", str(predictions), "--out", str(out), "--overlays", "0",
                      *extra, f"custom.fusion_config={fusion}"])
    assert code == 0
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.parametrize("name", DATASETS)
def test_converted_ground_truth_scores_perfectly(name, tmp_path, capsys):
    jsonl = convert(converter_args(name, tmp_path / "src"), tmp_path / "data" / "val.jsonl")
    records = read_jsonl(jsonl)
    metrics = evaluate(jsonl, ground_truth_as_predictions(jsonl, tmp_path / "preds.jsonl"), tmp_path / "eval")
    assert metrics["bbox/map"] == pytest.approx(1.0, abs=1e-9)
    assert metrics["match/f1@0.50"] == 1.0 and metrics["match/f1@0.50:0.95"] == 1.0
    assert metrics["n_images"] == len(records)
    assert set(metrics["per_category"]) == {o["desc"] for r in records for o in r["objects"]}


def test_coco_round_trip_keeps_ids_and_boxes(tmp_path):
    args = converter_args("coco_polygons", tmp_path / "src")
    source = json.loads(Path(args[1]).read_text())
    jsonl = convert(args, tmp_path / "data" / "val.jsonl")
    coco_path = tmp_path / "val_coco.json"
    with contextlib.redirect_stdout(io.StringIO()):
        assert convert_main(["to-coco", str(jsonl), "--out", str(coco_path)]) == 0
    exported = json.loads(coco_path.read_text())
    assert {c["id"]: c["name"] for c in exported["categories"]} == {18: "dog", 1: "person"}
    assert [i["id"] for i in exported["images"]] == [3, 7]
    kept = [a for a in source["annotations"] if not a["iscrowd"]]  # the crowd region was skipped
    by_key = {(a["image_id"], a["category_id"], tuple(a["bbox"])) for a in kept}
    got = {(a["image_id"], a["category_id"], tuple(a["bbox"])) for a in exported["annotations"]}
    assert got == by_key
    results = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
               for a in exported["annotations"]]
    stats = coco_eval(exported, results)
    assert stats[0] == pytest.approx(1.0) and stats[8] == pytest.approx(1.0)


def _noisy_dataset(root: Path, rng: np.random.Generator) -> tuple[list, Path]:
    """Eight 64x64 images (one without objects), three categories, boxes none of them thin; COCO by globox."""
    names, anns = ["cat", "dog", "traffic light"], []
    (root / "images").mkdir(parents=True)
    for k in range(8):
        Image.new("RGB", (64, 64)).save(root / "images" / f"{k}.png")
        boxes = []
        for _ in range(0 if k == 7 else int(rng.integers(1, 5))):
            w, h = rng.uniform(10, 28, 2)
            x, y = rng.uniform(0, 64 - w), rng.uniform(0, 64 - h)
            boxes.append(BoundingBox.create(label=names[int(rng.integers(3))], coords=(x, y, x + w, y + h)))
        anns.append(Annotation(f"{k}.png", (64, 64), boxes))
    path = root / "instances.json"
    AnnotationSet(anns).save_coco(path, label_to_id={n: 10 + k for k, n in enumerate(names)},
                                  imageid_to_id={f"{k}.png": 100 + k for k in range(8)})
    return names, path


def _noisy_predictions(jsonl: Path, out: Path, rng: np.random.Generator) -> Path:
    lines = []
    for k, r in enumerate(read_jsonl(jsonl)):
        objects = []
        for o in r["objects"]:
            if rng.random() < 0.2:
                continue  # a miss
            x1, y1, x2, y2 = (np.asarray(o["bbox_2d"]) + rng.normal(0, 1.5, 4)).clip(0, 64)
            desc = o["desc"].upper() if rng.random() < 0.2 else o["desc"]  # matched by normalised desc
            objects.append({"desc": desc, "bbox_2d": [x1, y1, max(x2, x1 + 4), max(y2, y1 + 4)],
                            "score": float(rng.uniform(0.05, 1))})
        if rng.random() < 0.5 or not r["objects"]:  # false positives, one of a desc with no category
            objects.append({"desc": "dog", "bbox_2d": [1, 1, 20, 25], "score": float(rng.uniform(0.05, 1))})
            objects.append({"desc": "zebra", "bbox_2d": [30, 30, 50, 60], "score": float(rng.uniform(0.05, 1))})
        lines.append(json.dumps({"index": k, "image": r["images"][0], "objects": objects}))
    out.write_text("\n".join(lines) + "\n")
    return out


def test_coco_predictions_reproduce_bbox_map(tmp_path):
    rng = np.random.default_rng(0)
    _, source = _noisy_dataset(tmp_path / "src", rng)
    jsonl = convert(["coco", source, "--images", tmp_path / "src" / "images"], tmp_path / "data" / "val.jsonl")
    predictions = _noisy_predictions(jsonl, tmp_path / "preds.jsonl", rng)
    metrics = evaluate(jsonl, predictions, tmp_path / "eval", "--coco")
    assert 0.2 < metrics["bbox/map"] < 0.95  # a real, imperfect score
    exported = json.loads((tmp_path / "eval" / "predictions_coco.json").read_text())
    assert {d["category_id"] for d in exported} <= {10, 11, 12}  # zebra is no category: left out
    assert {d["image_id"] for d in exported} <= set(range(100, 108))
    gt_path = tmp_path / "val_coco.json"
    with contextlib.redirect_stdout(io.StringIO()):
        assert convert_main(["to-coco", str(jsonl), "--out", str(gt_path)]) == 0
    gt = json.loads(gt_path.read_text())
    assert len(gt["images"]) == 8 and sum(1 for i in gt["images"] if i["id"] == 107) == 1
    stats = coco_eval(gt, exported)
    for key, i in (("bbox/map", 0), ("bbox/ap50", 1), ("bbox/ap75", 2), ("bbox/ar100", 8)):
        assert stats[i] == pytest.approx(metrics[key], abs=1e-6), key


def test_one_coco_file_per_target_and_ids_without_a_coco_source(tmp_path):
    voc = convert(converter_args("voc", tmp_path / "voc"), tmp_path / "data" / "voc.jsonl")
    yolo = convert(converter_args("yolo", tmp_path / "yolo"), tmp_path / "data" / "yolo.jsonl")
    fusion = tmp_path / "fusion.yaml"
    fusion.write_text("targets:\n" + "".join(
        f"  - {{name: {n}, dataset: {n}, train_jsonl: {p}, val_jsonl: {p}, ratio: 1.0, mode: dense}}\n"
        for n, p in (("voc", voc), ("yolo", yolo))) + "sources: []\n")
    preds = tmp_path / "preds.jsonl"
    lines = [dict(json.loads(x), dataset=n) for n, p in (("voc", voc), ("yolo", yolo))
             for x in ground_truth_as_predictions(p, tmp_path / f"{n}.preds.jsonl").read_text().splitlines()]
    preds.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "eval"
    assert eval_main(["--config", PRESET, "--predictions", str(preds), "--out", str(out), "--overlays", "0", "--coco",
                      f"custom.fusion_config={fusion}"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for name, jsonl, first_id in (("voc", voc, 1), ("yolo", yolo, 0)):
        exported = json.loads((out / f"predictions_coco_{name}.json").read_text())
        gt_path = tmp_path / f"{name}_coco.json"
        with contextlib.redirect_stdout(io.StringIO()):
            assert convert_main(["to-coco", str(jsonl), "--out", str(gt_path)]) == 0
        gt = json.loads(gt_path.read_text())
        assert [i["id"] for i in gt["images"]] == [1, 2, 3]  # record numbers: no COCO image ids
        assert min(c["id"] for c in gt["categories"]) == first_id  # VOC: 1, 2, ...; YOLO: the class index
        stats = coco_eval(gt, exported)
        assert stats[0] == pytest.approx(metrics["per_dataset"][name]["bbox/map"], abs=1e-6) == pytest.approx(1.0)
