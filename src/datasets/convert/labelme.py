"""LabelMe JSON (one file per image) -> source images.

``imagePath`` is relative to the JSON file; ``imageWidth`` / ``imageHeight`` are the stated size.
Points are pixels of the contract's frame as written (LabelMe stores Qt image coordinates:
pixel ``i`` spans ``[i, i + 1)``). ``rectangle`` (two opposite corners) -> ``bbox_2d``,
``polygon`` -> ``poly``, ``line`` / ``linestrip`` -> ``line``. Shapes the contract cannot hold
(``circle``, ``point``, ``points``, ``mask``) are skipped and counted by type. The label is the
category; an empty label is a bad item.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .coco import _numbers, load_json
from .frames import corners_box
from .model import ConvertError, Issue, Source, SourceImage, SourceObject

KINDS = {"rectangle": "bbox_2d", "polygon": "poly", "line": "line", "linestrip": "line"}
MIN_POINTS = {"rectangle": 2, "polygon": 3, "line": 2, "linestrip": 2}


def _shape(k: int, shape: Any, path: Path, src: SourceImage) -> None:
    where = f"{path}: shapes[{k}]"
    if not isinstance(shape, dict):
        src.issues.append(Issue(where, "a shape must be a JSON object"))
        return
    stype = shape.get("shape_type") or "polygon"
    if stype not in KINDS:
        src.skip(f"LabelMe {stype} shape (no contract geometry)")
        return
    label = shape.get("label")
    if not isinstance(label, str) or not label.strip():
        src.issues.append(Issue(where, f"shape without a label (category): {label!r}"))
        return
    points = shape.get("points")
    if not isinstance(points, list) or not all(_numbers(p, 2) for p in points):
        src.issues.append(Issue(where, "points must be a list of [x, y] pairs"))
        return
    if len(points) < MIN_POINTS[stype] or (stype == "rectangle" and len(points) != 2):
        src.issues.append(Issue(where, f"a {stype} needs {MIN_POINTS[stype]} points, got {len(points)}"))
        return
    kind = KINDS[stype]
    coords = corners_box(points) if kind == "bbox_2d" else tuple(float(v) for p in points for v in p)
    src.objects.append(SourceObject(label.strip(), kind, coords, where))


def _image(path: Path) -> SourceImage:
    try:
        data = load_json(path)
    except ConvertError as e:
        src = SourceImage(None, str(path), None)
        src.issues.append(Issue(str(path), str(e).removeprefix(f"{path}: ")))
        return src
    if not isinstance(data, dict) or not isinstance(data.get("imagePath"), str) or not data["imagePath"]:
        src = SourceImage(None, str(path), None)
        src.issues.append(Issue(str(path), "not a LabelMe file (no imagePath)"))
        return src
    w, h = data.get("imageWidth"), data.get("imageHeight")
    stated = (w, h) if isinstance(w, int) and isinstance(h, int) else None
    src = SourceImage(path.parent / data["imagePath"].replace("\\", "/"), str(path), stated)
    for k, shape in enumerate(data.get("shapes") or []):
        _shape(k, shape, path, src)
    return src


def read_labelme(folder: Path) -> Source:
    if not folder.is_dir():
        raise ConvertError(f"--annotations {folder}: not a folder of LabelMe .json files")
    files = sorted(folder.rglob("*.json"))

    def generate() -> Iterator[SourceImage]:
        for path in files:
            yield _image(path)

    return Source(generate(), len(files))
