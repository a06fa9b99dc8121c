"""Our JSONL -> COCO instances JSON (``python -m src.datasets.convert to-coco``).

* Category ids: from the table the converter wrote beside the JSONL (``X.categories.json``), so
  data that came from COCO keeps its ids; a desc the table lacks (or every desc, without a table)
  gets the next free id, in sorted order.
* Image ids: a record's integer ``metadata.image_id`` (data from COCO / LVIS), else its 1-based
  record number; two records with one id are an error. ``file_name`` is the record's first image path
  (relative to the JSONL), ``width`` / ``height`` the record's.
* ``bbox_2d`` -> ``bbox [x, y, w, h]``, ``area`` w x h, no segmentation; ``poly`` -> ``segmentation``
  ``[[x, y, ...]]``, ``bbox`` the box of its points, ``area`` the polygon's; ``line`` -> the box of its
  points (COCO has no lines). ``iscrowd`` 0 everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from src.datasets.records import Record

from .frames import polygon_area
from .model import ConvertError
from .writer import categories_path


def category_table(jsonl: Path) -> dict[str, int]:
    """desc -> id from the table beside ``jsonl`` ({} when there is none)."""
    path = categories_path(Path(jsonl))
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(c["name"]): int(c["id"]) for c in data["categories"]}
    except (ValueError, KeyError, TypeError) as e:
        raise ConvertError(f"{path}: not a category table written by the converter ({e}); fix or delete it") from None


def category_ids(descs: Sequence[str], table: dict[str, int]) -> dict[str, int]:
    """Ids for ``descs``: the table's, then the next free ids for the rest (sorted)."""
    ids = {d: table[d] for d in descs if d in table}
    free = max([*table.values(), 0]) + 1
    for d in sorted(set(descs) - set(ids)):
        ids[d] = free
        free += 1
    return ids


def jsonl_category_ids(jsonl: Path) -> dict[str, int]:
    """desc -> id exactly as ``to-coco`` numbers the categories of ``jsonl``."""
    from src.datasets.validate import load_records

    return category_ids([o.desc for r in load_records(jsonl) for o in r.objects], category_table(jsonl))


def image_id(record: Record, index: int) -> int:
    """A record's COCO image id: its integer ``metadata.image_id``, else its 1-based record number."""
    given = (record.metadata or {}).get("image_id")
    return given if isinstance(given, int) and not isinstance(given, bool) else index + 1


def image_ids(records: Sequence[Record]) -> list[int]:
    """Every record's image id; two records with one id are an error naming both."""
    ids, seen = [], {}
    for k, r in enumerate(records):
        i = image_id(r, k)
        if i in seen:
            raise ConvertError(f"{r.source or f'record {k + 1}'}: image id {i} is also the id of "
                               f"{records[seen[i]].source or f'record {seen[i] + 1}'} (metadata.image_id, or a record "
                               "number where a record has none); give every record a distinct metadata.image_id")
        seen[i] = k
        ids.append(i)
    return ids


def annotation(obj: Any, ann_id: int, image_id: int, category_id: int) -> dict[str, Any]:
    x1, y1, x2, y2 = obj.bounds
    ann: dict[str, Any] = {"id": ann_id, "image_id": image_id, "category_id": category_id,
                           "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0}
    if obj.kind == "poly":
        ann["segmentation"] = [list(obj.coords)]
        ann["area"] = polygon_area(obj.coords)
    return ann


def records_to_coco(records: Sequence[Record], table: dict[str, int]) -> dict[str, Any]:
    ids = category_ids([o.desc for r in records for o in r.objects], table)
    images, annotations = [], []
    for image_id, r in zip(image_ids(records), records):
        images.append({"id": image_id, "file_name": r.images[0], "width": r.width, "height": r.height})
        annotations += [annotation(o, len(annotations) + k + 1, image_id, ids[o.desc]) for k, o in enumerate(r.objects)]
    categories = [{"id": i, "name": d} for d, i in sorted({**table, **ids}.items(), key=lambda kv: kv[1])]
    return {"images": images, "annotations": annotations, "categories": categories}
