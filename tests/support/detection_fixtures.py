"""Tiny detection datasets written by a third-party library (globox) in COCO, YOLO, VOC and LabelMe.

One ground truth for every format: three tiny PNGs, two with boxes (float corners, one box on
the image border, a category name with a space) and one without objects (a negative). Each
writer gets the boxes in globox's own convention (absolute left/top/right/bottom); ``EXPECTED``
is what the converter must produce in the record contract's frame.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

from globox import Annotation, AnnotationSet, BoundingBox
from PIL import Image

SIZES = {"a.png": (64, 48), "b.png": (40, 40), "c.png": (32, 32)}
# image -> [(name, (left, top, right, bottom))] in pixels of the continuous frame
BOXES = {
    "a.png": [("cat", (3.25, 4.5, 20.75, 30.125)), ("dog", (30.5, 10.0, 60.0, 44.25))],
    "b.png": [("traffic light", (0.0, 0.0, 40.0, 12.5))],
    "c.png": [],
}
# VOC corners are 1-based pixel indices: (xmin, ymin, xmax, ymax) -> [xmin - 1, ymin - 1, xmax, ymax]
VOC_BOXES = {
    "a.png": [("cat", (4, 5, 21, 30)), ("dog", (31, 11, 60, 44))],
    "b.png": [("traffic light", (1, 1, 40, 12))],
    "c.png": [],
}
VOC_EXPECTED = {k: [(n, (x1 - 1, y1 - 1, x2, y2)) for n, (x1, y1, x2, y2) in v] for k, v in VOC_BOXES.items()}
LABELS = ["cat", "dog", "traffic light"]


def write_images(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, size in SIZES.items():
        Image.new("RGB", size, (90, 120, 150)).save(folder / name)
    return folder


def annotation_set(boxes: dict = BOXES) -> AnnotationSet:
    return AnnotationSet([Annotation(name, SIZES[name], [BoundingBox.create(label=label, coords=c)
                                                         for label, c in objs]) for name, objs in boxes.items()])


def globox_coco(root: Path) -> Path:
    """root/images/*.png + root/annotations.json (globox's COCO writer)."""
    write_images(root / "images")
    path = root / "annotations.json"
    annotation_set().save_coco(path, label_to_id={n: k + 1 for k, n in enumerate(LABELS)},
                               imageid_to_id={n: k + 1 for k, n in enumerate(SIZES)})
    return path


def globox_yolo(root: Path) -> tuple[Path, Path]:
    """root/images/*.png + root/labels/*.txt (globox's YOLO writer) + root/data.yaml; (images, names)."""
    images = write_images(root / "images")
    annotation_set().save_yolo_darknet(root / "labels", label_to_id={n: k for k, n in enumerate(LABELS)})
    names = root / "data.yaml"
    names.write_text("names:\n" + "".join(f"  - {n}\n" for n in LABELS))
    return images, names


def globox_voc(root: Path) -> Path:
    """root/JPEGImages/*.png + root/Annotations/*.xml (globox's Pascal VOC writer)."""
    write_images(root / "JPEGImages")
    annotation_set(VOC_BOXES).save_pascal_voc(root / "Annotations")
    return root / "Annotations"


def globox_labelme(root: Path) -> Path:
    """root/*.png + root/*.json (globox's LabelMe writer: rectangles)."""
    write_images(root)
    annotation_set().save_labelme(root)
    return root


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def coco_with_polygons(root: Path) -> Path:
    write_images(root / "images")
    data = {
        "images": [{"id": 7, "file_name": "a.png", "width": 64, "height": 48},
                   {"id": 3, "file_name": "b.png", "width": 40, "height": 40}],
        "categories": [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 18, "iscrowd": 0, "bbox": [2, 2, 18, 13],
             "segmentation": [[2, 2, 20, 2, 20, 15, 2, 15]]},
            {"id": 2, "image_id": 7, "category_id": 1, "iscrowd": 0, "bbox": [30, 5, 30, 30],
             "segmentation": [[30, 20, 50, 20, 40, 35], [35, 5, 60, 5, 60, 10]]},
            {"id": 3, "image_id": 7, "category_id": 1, "iscrowd": 1, "bbox": [0, 30, 20, 10],
             "segmentation": {"counts": [0, 10], "size": [48, 64]}},
            {"id": 4, "image_id": 3, "category_id": 1, "iscrowd": 0, "bbox": [1.5, 2.5, 10, 20],
             "segmentation": {"counts": "abc", "size": [40, 40]}},
        ],
    }
    path = root / "instances.json"
    path.write_text(json.dumps(data))
    return path


def lvis_file(root: Path) -> Path:
    """An LVIS file (written by hand: no LVIS writer exists) naming its image by coco_url."""
    write_images(root / "val2017")
    data = {"images": [{"id": 1, "coco_url": "http://images.example/val2017/a.png", "width": 64, "height": 48,
                        "neg_category_ids": [2], "not_exhaustive_category_ids": []}],
            "categories": [{"id": 1, "name": "aerosol_can", "synonyms": ["spray_can"]}, {"id": 2, "name": "apron"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [3.25, 4.5, 17.5, 25.625],
                             "segmentation": [[3.25, 4.5, 20.75, 4.5, 20.75, 30.125]], "area": 1.0}]}
    ann = root / "lvis_v1_val.json"
    ann.write_text(json.dumps(data))
    return ann


def labelme_shapes(root: Path) -> Path:
    """A LabelMe file with every shape type (hand-written in LabelMe's layout: globox writes rectangles only)."""
    write_images(root)
    shapes = [{"label": "roof", "shape_type": "polygon", "points": [[1, 1], [20.5, 1], [10, 15.25]]},
              {"label": "wire", "shape_type": "line", "points": [[0, 40], [63, 41]]},
              {"label": "road edge", "shape_type": "linestrip", "points": [[0, 47], [30, 30], [64, 20]]},
              {"label": "box", "shape_type": "rectangle", "points": [[50, 30], [40, 10]]},
              {"label": "ball", "shape_type": "circle", "points": [[5, 5], [7, 7]]},
              {"label": "tip", "shape_type": "point", "points": [[5, 5]]}]
    (root / "a.json").write_text(json.dumps({"imagePath": "a.png", "imageWidth": 64, "imageHeight": 48,
                                             "shapes": shapes, "imageData": None}))
    return root


def odvg_rows(root: Path) -> tuple[Path, Path]:
    """ODVG rows (hand-written in Grounding DINO's layout) and a label map: (rows, label map)."""
    write_images(root / "imgs")
    rows = [{"filename": "a.png", "width": 64, "height": 48,
             "detection": {"instances": [{"bbox": [3.25, 4.5, 20.75, 30.125], "label": 0, "category": "cat"},
                                         {"bbox": [30.5, 10.0, 60.0, 44.25], "label": 1}]}},
            {"filename": "b.png", "width": 40, "height": 40,
             "grounding": {"caption": "a light", "regions": [{"bbox": [0, 0, 4, 4], "phrase": "a light"}]}},
            {"filename": "c.png", "width": 32, "height": 32, "detection": {"instances": []}}]
    src = root / "odvg.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    label_map = root / "labels.json"
    label_map.write_text('{"0": "cat", "1": "dog"}')
    return src, label_map


def converter_args(name: str, root: Path) -> list[str]:
    """CLI arguments (without --out) that convert the fixture dataset ``name`` built under ``root``."""
    if name == "coco":
        return ["coco", str(globox_coco(root)), "--images", str(root / "images")]
    if name == "coco_polygons":
        return ["coco", str(coco_with_polygons(root)), "--images", str(root / "images")]
    if name == "lvis":
        return ["lvis", str(lvis_file(root)), "--images", str(root / "val2017")]
    if name == "yolo":
        images, names = globox_yolo(root)
        return ["yolo", "--images", str(images), "--names", str(names)]
    if name == "voc":
        return ["voc", "--annotations", str(globox_voc(root))]
    if name == "labelme":
        return ["labelme", "--annotations", str(globox_labelme(root))]
    if name == "labelme_shapes":
        return ["labelme", "--annotations", str(labelme_shapes(root))]
    src, label_map = odvg_rows(root)
    return ["odvg", str(src), "--images", str(root / "imgs"), "--label-map", str(label_map)]


DATASETS = ("coco", "coco_polygons", "lvis", "yolo", "voc", "labelme", "labelme_shapes", "odvg")


def ground_truth_as_predictions(jsonl: Path, out: Path) -> Path:
    """predictions.jsonl whose objects are the records' own (score 1), one line per record."""
    lines = []
    for k, r in enumerate(read_jsonl(jsonl)):
        objects = []
        for o in r["objects"]:
            kind = next(key for key in ("bbox_2d", "poly", "line") if key in o)
            xs, ys = o[kind][0::2], o[kind][1::2]
            objects.append({"desc": o["desc"], "bbox_2d": [min(xs), min(ys), max(xs), max(ys)],
                            **({kind: o[kind]} if kind != "bbox_2d" else {})})
        lines.append(json.dumps({"index": k, "image": r["images"][0], "objects": objects}))
    out.write_text("\n".join(lines) + "\n")
    return out


def fusion_for(jsonl: Path, out: Path, name: str = "converted") -> Path:
    out.write_text(f"targets:\n  - name: {name}\n    dataset: {name}\n    train_jsonl: {jsonl}\n"
                   f"    val_jsonl: {jsonl}\n    ratio: 1.0\n    mode: dense\nsources: []\n")
    return out


def coco_eval(gt: dict, results: list[dict]) -> Any:
    """pycocotools' bbox COCOeval.stats of a COCO ground-truth dict and a results list."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(results), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats
