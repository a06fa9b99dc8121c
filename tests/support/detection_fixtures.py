"""Tiny detection datasets written by a third-party library (globox) in COCO, YOLO, VOC and LabelMe.

One ground truth for every format: three tiny PNGs, two with boxes (float corners, one box on
the image border, a category name with a space) and one without objects (a negative). Each
writer gets the boxes in globox's own convention (absolute left/top/right/bottom); ``EXPECTED``
is what the converter must produce in the record contract's frame.
"""

from __future__ import annotations

import json
from pathlib import Path

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
