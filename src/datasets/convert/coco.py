"""COCO instances JSON and LVIS (the same layout) -> source images.

* ``bbox`` ``[x, y, w, h]`` and polygon points are floats in the contract's frame (:mod:`.frames`).
* ``--geometry poly`` (default): an annotation with polygon segmentation becomes a ``poly``; one
  drawn as several polygons becomes one polygon whose parts hang off the largest by zero-width
  bridges (:func:`.frames.join_polygons`: same union, same bounding box). An annotation without a
  polygon (``segmentation`` empty, or an uncompressed/compressed RLE mask) becomes its ``bbox``
  (counted). ``--geometry bbox``: every annotation becomes its ``bbox``.
* ``iscrowd: 1`` (a crowd region, usually an RLE mask): skipped and counted (``--crowd skip``), or
  kept as an ordinary ``bbox_2d`` (``--crowd box``). The evaluation has no ignore regions, so a
  crowd kept as a box is a normal object to detect.
* LVIS images name their file by ``coco_url``; its last path component is looked up under
  ``--images``. LVIS's ``neg_category_ids`` / ``not_exhaustive_category_ids`` have no place in the
  record contract and are not used (its annotations are federated: an object of a category the
  image was not checked for may be unlabelled).
* Records keep COCO's image id in ``metadata.image_id`` and follow the ids' order; the category
  table beside the JSONL keeps the category ids, so ``to-coco`` writes them back.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .frames import coco_box, join_polygons
from .model import ConvertError, Issue, Source, SourceImage, SourceObject


def load_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ConvertError(f"{path}: no such file") from None
    except json.JSONDecodeError as e:
        raise ConvertError(f"{path}:{e.lineno}: not valid JSON ({e.msg}, column {e.colno})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConvertError(f"{path}: cannot read ({e})") from None


def _numbers(v: Any, n: int | None = None) -> bool:
    return (isinstance(v, list) and (n is None or len(v) == n)
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v))


def _categories(data: dict, path: Path) -> tuple[dict[int, str], list[Issue]]:
    names, issues = {}, []
    for k, cat in enumerate(data["categories"]):
        where = f"{path}: categories[{k}]"
        cid = cat.get("id") if isinstance(cat, dict) else None
        if isinstance(cid, bool) or not isinstance(cid, int):
            issues.append(Issue(where, f"category without an integer id: {cat!r}"))
            continue
        name = cat.get("name")
        if not isinstance(name, str) or not name.strip():
            issues.append(Issue(where, f"category id {cid} has no name ({name!r}); give it a name"))
            continue
        names[cid] = name.strip()
    return names, issues


def _file_name(img: dict, lvis: bool) -> str | None:
    name = img.get("file_name")
    if not name and lvis and isinstance(img.get("coco_url"), str):
        name = img["coco_url"].rstrip("/").rsplit("/", 1)[-1]
    return name if isinstance(name, str) and name else None


def _polygon_object(ann: dict, name: str, cid: int, where: str, src: SourceImage) -> SourceObject | Issue:
    parts = ann["segmentation"]
    if not all(_numbers(p) and len(p) % 2 == 0 and len(p) >= 6 for p in parts):
        return Issue(where, "segmentation polygons must be flat lists of at least 3 (x, y) points")
    if len(parts) > 1:
        src.note("poly joined from several polygons")
    coords = tuple(float(v) for v in parts[0]) if len(parts) == 1 else join_polygons(parts)
    return SourceObject(name, "poly", coords, where, cid)


def _object(ann: dict, names: dict[int, str], where: str, src: SourceImage, geometry: str, crowd: str):
    cid = ann.get("category_id")
    if cid not in names:
        return Issue(where, f"category_id {cid!r} has no entry (with a name) in categories")
    if ann.get("iscrowd") and crowd == "skip":
        src.skip("iscrowd (crowd region)")
        return None
    seg = ann.get("segmentation")
    if geometry == "poly" and not ann.get("iscrowd") and isinstance(seg, list) and seg:
        return _polygon_object(ann, names[cid], cid, where, src)
    if not _numbers(ann.get("bbox"), 4):
        return Issue(where, f"bbox must be [x, y, width, height] (4 finite numbers), got {ann.get('bbox')!r}")
    if geometry == "poly":
        src.note("bbox_2d: crowd kept as a box" if ann.get("iscrowd") else "bbox_2d: no polygon (empty or RLE)")
    return SourceObject(names[cid], "bbox_2d", coco_box(*(float(v) for v in ann["bbox"])), where, cid)


def _check_layout(data: Any, path: Path) -> None:
    if not isinstance(data, dict):
        raise ConvertError(f"{path}: the top level must be a JSON object with images, annotations and categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise ConvertError(f"{path}: '{key}' must be a list (is this a COCO instances / LVIS file? "
                               f"keys found: {sorted(data)})")


def _images(data: dict, path: Path, images_dir: Path, lvis: bool) -> tuple[dict[int, SourceImage], list[Issue]]:
    images, issues = {}, []
    for k, img in enumerate(data["images"]):
        iid = img.get("id") if isinstance(img, dict) else None
        where = f"{path}: images[{k}] (id {iid})"
        name = _file_name(img, lvis) if isinstance(img, dict) else None
        if isinstance(iid, bool) or not isinstance(iid, int) or name is None:
            issues.append(Issue(where, "an image needs an integer id and a file_name"
                                       + (" (or coco_url)" if lvis else "")))
            continue
        w, h = img.get("width"), img.get("height")
        stated = (w, h) if isinstance(w, int) and isinstance(h, int) else None
        images[iid] = SourceImage(images_dir / name, where, stated, image_id=iid)
    return images, issues


def read_coco(path: Path, images_dir: Path | None = None, *, lvis: bool = False, geometry: str = "poly",
              crowd: str = "skip") -> Source:
    """Read a COCO instances (or LVIS) file; images are looked up under ``images_dir`` (default: its folder)."""
    data = load_json(path)
    _check_layout(data, path)
    names, issues = _categories(data, path)
    images, bad_images = _images(data, path, images_dir or path.parent, lvis)
    issues += bad_images
    by_image: dict[int, list[tuple[int, dict]]] = defaultdict(list)
    for k, ann in enumerate(data["annotations"]):
        iid = ann.get("image_id") if isinstance(ann, dict) else None
        if iid not in images:
            issues.append(Issue(f"{path}: annotations[{k}]", f"image_id {iid!r} is not in images"))
            continue
        by_image[iid].append((k, ann))

    def generate() -> Iterator[SourceImage]:
        for iid in sorted(images):
            src = images[iid]
            for k, ann in by_image.get(iid, ()):
                result = _object(ann, names, f"{path}: annotations[{k}] (id {ann.get('id')})", src, geometry, crowd)
                if isinstance(result, Issue):
                    src.issues.append(result)
                elif result is not None:
                    src.objects.append(result)
            yield src

    return Source(generate(), len(images), sorted(names.items()), issues)
