"""ODVG JSONL (Grounding DINO's object-detection / visual-grounding rows) -> source images.

A detection row: ``{"filename", "width", "height", "detection": {"instances": [{"bbox": [x1, y1,
x2, y2], "label": int, "category": str}]}}``; boxes are pixel corners in the contract's frame.
``filename`` is under ``--images``. The category is the instance's ``category``, else the name
``--label-map`` (``{"0": "person", ...}``) gives its ``label``. Grounding rows (``"grounding"``:
caption + phrase regions) are skipped and counted: only detection rows are converted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from src.datasets.records import json_lines

from .coco import _numbers, load_json
from .model import ConvertError, Issue, Source, SourceImage, SourceObject

GROUNDING = "grounding row (only detection rows are converted)"


def read_label_map(path: Path | None) -> dict[int, str]:
    if path is None:
        return {}
    data = load_json(path)
    try:
        return {int(k): str(v) for k, v in data.items()}
    except (AttributeError, TypeError, ValueError):
        raise ConvertError(f"--label-map {path}: must be a JSON object from label id to name") from None


def _instance(inst: Any, where: str, label_map: dict[int, str]) -> SourceObject | Issue:
    if not isinstance(inst, dict) or not _numbers(inst.get("bbox"), 4):
        return Issue(where, "an instance needs bbox [x1, y1, x2, y2] (4 finite numbers)")
    label = inst.get("label")
    name = inst.get("category") or (label_map.get(label) if isinstance(label, int) else None)
    if not isinstance(name, str) or not name.strip():
        return Issue(where, f"label {label!r} has no name: the instance has no category and --label-map has none")
    x1, y1, x2, y2 = (float(v) for v in inst["bbox"])
    return SourceObject(name.strip(), "bbox_2d", (x1, y1, x2, y2), where, label if isinstance(label, int) else None)


def _row(data: Any, where: str, images: Path, label_map: dict[int, str]) -> SourceImage | None:
    if not isinstance(data, dict) or not isinstance(data.get("filename"), str):
        src = SourceImage(None, where, None)
        src.issues.append(Issue(where, "a row needs 'filename'"))
        return src
    w, h = data.get("width"), data.get("height")
    src = SourceImage(images / data["filename"], where, (w, h) if isinstance(w, int) and isinstance(h, int) else None)
    detection = data.get("detection")
    if detection is None:
        return None if "grounding" in data else _bad(src, where, "a row needs 'detection' (or is a grounding row)")
    instances = detection.get("instances") if isinstance(detection, dict) else None
    if not isinstance(instances, list):
        return _bad(src, where, "'detection' must hold a list 'instances'")
    for k, inst in enumerate(instances):
        obj = _instance(inst, f"{where}: instances[{k}]", label_map)
        (src.issues if isinstance(obj, Issue) else src.objects).append(obj)
    return src


def _bad(src: SourceImage, where: str, reason: str) -> SourceImage:
    src.issues.append(Issue(where, reason))
    return src


def read_odvg(path: Path, images: Path | None = None, label_map: Path | None = None) -> Source:
    try:
        lines = path.read_bytes().splitlines()
    except OSError as e:
        raise ConvertError(f"{path}: cannot read ({e.strerror or e})") from None
    names = read_label_map(label_map)
    root = images or path.parent
    skipped: dict[str, int] = {}

    def generate() -> Iterator[SourceImage]:
        for _, where, data, error in json_lines(path, lines):
            if error is not None:
                yield _bad(SourceImage(None, where, None), where, error)
                continue
            src = _row(data, where, root, names)
            if src is None:
                skipped[GROUNDING] = skipped.get(GROUNDING, 0) + 1
                continue
            yield src

    return Source(generate(), sum(1 for r in lines if r.strip()), sorted(names.items()) or None, skipped=skipped)
