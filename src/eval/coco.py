"""COCO-style AP / AR through pycocotools' `COCOeval` (the reference implementation), pure inputs.

Each image is a pair (ground-truth objects, scored predictions) in pixel coordinates. Boxes are
the objects' comparison boxes (`src/datasets/iou.py`: `bbox_2d` as written, `poly` / `line` the box
of their points with thin sides widened), so a horizontal line has a defined box IoU. Categories
are the normalised `desc`s of both sides; `agnostic=True` puts every object in one category.
`segm` evaluates `poly` objects only (as COCO polygons). `crowd` is never set; the area range is
`all`; `maxDets` is COCO's (1, 10, 100). COCOeval's -1 (nothing to evaluate) becomes None.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from src.datasets.geometry import polygon_area
from src.datasets.iou import comparison_boxes
from src.datasets.records import DenseObject
from src.stage2.matching import normalize_desc

from .predictions import ScoredObject

AGNOSTIC = "object"
# COCOeval.stats indices: 0 AP@[.5:.95], 1 AP50, 2 AP75, 8 AR@100 (area all)
STAT_KEYS: dict[str, int] = {"map": 0, "ap50": 1, "ap75": 2, "ar100": 8}

Image = tuple[Sequence[DenseObject], Sequence[ScoredObject], int, int]  # gts, preds, width, height


def _none(v: float) -> float | None:
    return None if v < 0 else float(v)


def _category(desc: str, agnostic: bool) -> str:
    return AGNOSTIC if agnostic else normalize_desc(desc)


def _annotation(obj: DenseObject, box: np.ndarray, iou_type: str) -> dict[str, Any]:
    x1, y1, x2, y2 = (float(v) for v in box)
    ann: dict[str, Any] = {"bbox": [x1, y1, x2 - x1, y2 - y1], "iscrowd": 0, "ignore": 0}
    if iou_type == "segm":
        ann["segmentation"] = [[float(v) for v in obj.coords]]
        ann["area"] = float(polygon_area(obj.points))
    else:
        ann["area"] = (x2 - x1) * (y2 - y1)
    return ann


def _datasets(images: Sequence[Image], iou_type: str, agnostic: bool) -> tuple[dict, dict, dict[str, int]]:
    keep = (lambda o: o.kind == "poly") if iou_type == "segm" else (lambda o: True)
    names = sorted({_category(o.desc, agnostic) for gts, preds, _, _ in images
                    for o in [*gts, *(p.obj for p in preds)] if keep(o)})
    cat_ids = {n: k + 1 for k, n in enumerate(names)}
    gt_anns, dt_anns, imgs = [], [], []
    for image_id, (gts, preds, w, h) in enumerate(images, 1):
        imgs.append({"id": image_id, "width": int(w), "height": int(h)})
        gts = [o for o in gts if keep(o)]
        for o, box in zip(gts, comparison_boxes(gts)):
            gt_anns.append({**_annotation(o, box, iou_type), "id": len(gt_anns) + 1, "image_id": image_id,
                            "category_id": cat_ids[_category(o.desc, agnostic)]})
        preds = [p for p in preds if keep(p.obj)]
        for p, box in zip(preds, comparison_boxes([p.obj for p in preds])):
            dt_anns.append({**_annotation(p.obj, box, iou_type), "id": len(dt_anns) + 1, "image_id": image_id,
                            "category_id": cat_ids[_category(p.obj.desc, agnostic)], "score": float(p.score)})
    categories = [{"id": i, "name": n} for n, i in cat_ids.items()]
    return ({"images": imgs, "annotations": gt_anns, "categories": categories},
            {"images": imgs, "annotations": dt_anns, "categories": categories}, cat_ids)


def coco_metrics(images: Sequence[Image], iou_type: str = "bbox", agnostic: bool = False) -> dict[str, Any]:
    """`{"map", "ap50", "ap75", "ar100", "per_category": {name: {"ap", "ap50"}}}`; None where undefined."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt_data, dt_data, cat_ids = _datasets(images, iou_type, agnostic)
    empty = {k: None for k in STAT_KEYS} | {"per_category": {}}
    if not gt_data["annotations"]:
        return empty
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt, dt = COCO(), COCO()
        gt.dataset, dt.dataset = gt_data, dt_data
        gt.createIndex()
        dt.createIndex()
        ev = COCOeval(gt, dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    out: dict[str, Any] = {k: _none(ev.stats[i]) for k, i in STAT_KEYS.items()}
    out["per_category"] = _per_category(ev, cat_ids)
    return out


def _per_category(ev: Any, cat_ids: dict[str, int]) -> dict[str, dict[str, float | None]]:
    """AP@[.5:.95] and AP50 of each category with ground truth (area all, maxDets 100)."""
    precision = ev.eval["precision"]  # [T, R, K, A, M]
    has_gt = {ev.cocoGt.anns[a]["category_id"] for a in ev.cocoGt.anns}
    out = {}
    for k, (name, cid) in enumerate(sorted(cat_ids.items(), key=lambda kv: kv[1])):
        if cid not in has_gt:
            continue
        p = precision[:, :, k, 0, -1]
        p50 = precision[0, :, k, 0, -1]
        ap = float(np.mean(p[p > -1])) if (p > -1).any() else None
        ap50 = float(np.mean(p50[p50 > -1])) if (p50 > -1).any() else None
        out[name] = {"ap": ap, "ap50": ap50}
    return out
