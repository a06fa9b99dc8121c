"""Detection metrics of a set of evaluated images (pure: numbers in, the metrics dict out).

Every key is defined in docs/evaluation.md. Summary keys (flat, `/`-separated):

* `bbox/{map,ap50,ap75,ar100}`: COCOeval over every object's box, one category per normalised desc;
  `bbox_agnostic/*`: the same with every object in one category; `segm/*`: `poly` objects only;
* `match/{precision,recall,f1}@T` for T in 0.50:0.05:0.95 and their means `@0.50:0.95`: one-to-one
  matching (most pairs with IoU >= T, then the largest total IoU; Hungarian) through the project's
  one IoU, over every predicted object whatever its score; `match/cat_f1@T`: pairs must also have
  equal normalised descs;
* `parse/*`: parse health (documents, valid documents, empty outputs, truncations, objects kept and
  dropped by reason, mean objects predicted vs in the ground truth);
* `per_category` (desc -> AP, AP50, F1@0.50, counts), `per_dataset` (fusion target -> summary keys).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from src.datasets.iou import iou_matrix
from src.datasets.records import DenseObject
from src.rewards.matching import IOU_THRESHOLDS, f_beta, hungarian_match, match_at_threshold
from src.stage2.matching import normalize_desc

from .coco import coco_metrics
from .predictions import ScoredObject

_EPS = 1e-9
RANGE = "0.50:0.95"


@dataclass(frozen=True)
class EvalImage:
    """One image to score: ground truth and predictions in the record's original pixel frame."""

    gts: tuple[DenseObject, ...]
    preds: tuple[ScoredObject, ...]
    width: int
    height: int
    dataset: str | None = None
    completion: str | None = None
    finish_reason: str | None = None
    parse_valid: bool | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    parse_error: str | None = None  # the parser's message when the output did not parse (overlays show it)


def threshold_key(t: float) -> str:
    return f"{t:.2f}"


def category_match(iou: np.ndarray, same_desc: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Most pairs with IoU >= threshold and equal descs; among those, the largest total IoU."""
    allowed = (iou >= threshold - _EPS) & same_desc
    scale = min(iou.shape) + 1
    return hungarian_match(1.0 + iou / scale, allowed)


def _same_desc(preds: Sequence[DenseObject], gts: Sequence[DenseObject]) -> np.ndarray:
    g = [normalize_desc(o.desc) for o in gts]
    return np.array([[normalize_desc(p.desc) == d for d in g] for p in preds], dtype=bool).reshape(len(preds), len(gts))


@dataclass
class MatchCounts:
    """True positives per IoU threshold (agnostic and category-aware), per-desc counts at 0.50."""

    tp: np.ndarray = field(default_factory=lambda: np.zeros(len(IOU_THRESHOLDS)))
    tp_cat: np.ndarray = field(default_factory=lambda: np.zeros(len(IOU_THRESHOLDS)))
    n_pred: int = 0
    n_gt: int = 0
    desc_tp: Counter = field(default_factory=Counter)  # category-aware matches at 0.50, by GT desc
    desc_pred: Counter = field(default_factory=Counter)
    desc_gt: Counter = field(default_factory=Counter)

    def add(self, other: MatchCounts) -> None:
        self.tp += other.tp
        self.tp_cat += other.tp_cat
        self.n_pred += other.n_pred
        self.n_gt += other.n_gt
        self.desc_tp += other.desc_tp
        self.desc_pred += other.desc_pred
        self.desc_gt += other.desc_gt


def image_counts(preds: Sequence[DenseObject], gts: Sequence[DenseObject]) -> MatchCounts:
    counts = MatchCounts(n_pred=len(preds), n_gt=len(gts),
                         desc_pred=Counter(normalize_desc(p.desc) for p in preds),
                         desc_gt=Counter(normalize_desc(g.desc) for g in gts))
    if not preds or not gts:
        return counts
    iou = iou_matrix(preds, gts)
    same = _same_desc(preds, gts)
    for k, t in enumerate(IOU_THRESHOLDS):
        counts.tp[k] = len(match_at_threshold(iou, t))
        pairs = category_match(iou, same, t)
        counts.tp_cat[k] = len(pairs)
        if k == 0:
            counts.desc_tp.update(normalize_desc(gts[g].desc) for _, g in pairs)
    return counts


def _prf(tp: float, n_pred: int, n_gt: int) -> tuple[float, float, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gt if n_gt else 0.0
    return precision, recall, f_beta(tp, n_pred, n_gt)


def match_metrics(c: MatchCounts) -> dict[str, float]:
    out: dict[str, float] = {}
    rows = [(*_prf(tp, c.n_pred, c.n_gt), f_beta(tpc, c.n_pred, c.n_gt)) for tp, tpc in zip(c.tp, c.tp_cat)]
    for t, (p, r, f, fc) in zip(IOU_THRESHOLDS, rows):
        key = threshold_key(t)
        out |= {f"match/precision@{key}": p, f"match/recall@{key}": r, f"match/f1@{key}": f,
                f"match/cat_f1@{key}": fc}
    for j, name in enumerate(("precision", "recall", "f1", "cat_f1")):
        out[f"match/{name}@{RANGE}"] = float(np.mean([row[j] for row in rows]))
    return out


def parse_health(images: Sequence[EvalImage]) -> dict[str, Any]:
    with_text = [im for im in images if im.completion is not None]
    dropped: Counter = Counter()
    for im in images:
        dropped.update(im.dropped)
    n_valid = sum(1 for im in images if im.parse_valid)
    n = len(images)
    out: dict[str, Any] = {
        "parse/documents": n,
        "parse/valid_documents": n_valid,
        "parse/parse_rate": n_valid / n if n and any(im.parse_valid is not None for im in images) else None,
        "parse/empty_outputs": sum(1 for im in with_text if not im.completion.strip()),
        "parse/truncated": sum(1 for im in images if im.finish_reason == "length"),
        "parse/objects_kept": sum(len(im.preds) for im in images),
        "parse/objects_dropped": sum(dropped.values()),
        "parse/mean_pred_objects": float(np.mean([len(im.preds) for im in images])) if n else 0.0,
        "parse/mean_gt_objects": float(np.mean([len(im.gts) for im in images])) if n else 0.0,
    }
    for reason, count in sorted(dropped.items()):
        out[f"parse/dropped/{reason}"] = count
    return out


def _coco_block(prefix: str, images: Sequence[EvalImage], iou_type: str, agnostic: bool) -> tuple[dict, dict]:
    res = coco_metrics([(im.gts, im.preds, im.width, im.height) for im in images], iou_type, agnostic)
    return {f"{prefix}/{k}": v for k, v in res.items() if k != "per_category"}, res["per_category"]


def summary_metrics(images: Sequence[EvalImage]) -> tuple[dict[str, Any], dict[str, Any], MatchCounts]:
    """The flat summary keys, the per-category COCO results and the summed match counts."""
    counts = MatchCounts()
    for im in images:
        counts.add(image_counts([p.obj for p in im.preds], im.gts))
    bbox, per_cat = _coco_block("bbox", images, "bbox", agnostic=False)
    agnostic, _ = _coco_block("bbox_agnostic", images, "bbox", agnostic=True)
    segm, _ = _coco_block("segm", images, "segm", agnostic=False)
    return {**bbox, **agnostic, **segm, **match_metrics(counts), **parse_health(images)}, per_cat, counts


def per_category(per_cat_ap: dict[str, Any], counts: MatchCounts) -> dict[str, dict[str, Any]]:
    out = {}
    for desc in sorted(set(counts.desc_gt) | set(counts.desc_pred)):
        tp, n_pred, n_gt = counts.desc_tp[desc], counts.desc_pred[desc], counts.desc_gt[desc]
        ap = per_cat_ap.get(desc, {})
        out[desc] = {"ap": ap.get("ap"), "ap50": ap.get("ap50"), "f1@0.50": f_beta(tp, n_pred, n_gt),
                     "n_gt": n_gt, "n_pred": n_pred, "tp@0.50": int(tp)}
    return out


def score_images(images: Sequence[EvalImage], *, confidence: str = "constant") -> dict[str, Any]:
    """The full metrics dict (the content of metrics.json) of ``images``."""
    summary, per_cat_ap, counts = summary_metrics(images)
    datasets = sorted({im.dataset for im in images if im.dataset is not None})
    if len(datasets) == 1 and all(im.dataset == datasets[0] for im in images):
        per_dataset = {datasets[0]: dict(summary)}  # one dataset: its metrics are the summary
    else:
        per_dataset = {name: summary_metrics([im for im in images if im.dataset == name])[0] for name in datasets}
    return {**summary, "n_images": len(images), "confidence": confidence,
            "per_category": per_category(per_cat_ap, counts), "per_dataset": per_dataset}
