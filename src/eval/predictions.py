"""The `predictions.jsonl` contract: one line per evaluated image (written by us, readable from anyone).

Each line is a JSON object::

    {"index": 3,                        # record index (0-based line among records) in the split's JSONL
     "image": "images/val_000003.png",  # the record's first image path, as written in the record
     "dataset": "synthetic_dense",      # fusion target name (optional; default: the only target)
     "completion": "...",               # raw generated text (optional)
     "finish_reason": "stop",           # "stop" | "length" | null (optional)
     "parse_valid": true,               # the whole completion parsed as one valid document (optional)
     "objects": [{"desc": "red box", "bbox_2d": [x1, y1, x2, y2], "poly": [...], "score": 0.93}],
     "dropped": [{"reason": "truncated", "count": 1}]}   # optional

Coordinates are pixels of the record's original image (`width` x `height` in the record).
`bbox_2d` is always present; an object that also has `poly` or `line` is that geometry (its
`bbox_2d` is then the box of its points). `score` is the detection confidence in [0, 1] (see
docs/evaluation.md); absent means 1.0. Reading never uses the optional keys for scoring except
`dataset` (per-dataset metrics) and `completion` / `dropped` / `finish_reason` / `parse_valid`
(parse health).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from src.datasets.records import DenseObject, json_lines


class PredictionsError(ValueError):
    """A predictions file that breaks the contract (message names file:line and the fix)."""


@dataclass(frozen=True)
class ScoredObject:
    obj: DenseObject
    score: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"desc": self.obj.desc, "bbox_2d": [float(v) for v in self.obj.bounds]}
        if self.obj.kind != "bbox_2d":
            out[self.obj.kind] = [float(v) for v in self.obj.coords]
        out["score"] = float(self.score)
        return out


@dataclass(frozen=True)
class ImagePrediction:
    index: int
    image: str
    objects: tuple[ScoredObject, ...]
    dataset: str | None = None
    completion: str | None = None
    finish_reason: str | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    parse_valid: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "image": self.image}
        if self.dataset is not None:
            out["dataset"] = self.dataset
        if self.completion is not None:
            out["completion"] = self.completion
            out["finish_reason"] = self.finish_reason
        if self.parse_valid is not None:
            out["parse_valid"] = self.parse_valid
        out["objects"] = [o.to_dict() for o in self.objects]
        out["dropped"] = [{"reason": r, "count": n} for r, n in sorted(self.dropped.items())]
        return out


def _object(raw: Any, where: str) -> ScoredObject:
    if not isinstance(raw, Mapping):
        raise PredictionsError(f"{where}: each entry of 'objects' must be an object, got {raw!r}")
    kind = next((k for k in ("poly", "line") if k in raw), "bbox_2d")
    if kind not in raw:
        raise PredictionsError(f"{where}: object {dict(raw)!r} has no bbox_2d (every object needs one)")
    score = raw.get("score", 1.0)
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        raise PredictionsError(f"{where}: score must be a finite number, got {score!r}")
    try:
        obj = DenseObject(raw.get("desc"), kind, tuple(float(v) for v in raw[kind]))
    except (TypeError, ValueError) as e:
        raise PredictionsError(f"{where}: bad object {dict(raw)!r}: {e}") from None
    return ScoredObject(obj, float(score))


def _dropped(raw: Any, where: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in raw or []:
        if not isinstance(item, Mapping) or not isinstance(item.get("reason"), str):
            raise PredictionsError(f"{where}: 'dropped' entries must be {{\"reason\": str, \"count\": int}}")
        out[item["reason"]] = out.get(item["reason"], 0) + int(item.get("count", 1))
    return out


def parse_prediction_line(data: Any, where: str) -> ImagePrediction:
    if not isinstance(data, Mapping):
        raise PredictionsError(f"{where}: a line must be a JSON object")
    index = data.get("index")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise PredictionsError(f"{where}: 'index' must be the record's 0-based index in the split JSONL, got {index!r}")
    objects = data.get("objects")
    if not isinstance(objects, list):
        raise PredictionsError(f"{where}: 'objects' must be a list (use [] for no detections)")
    return ImagePrediction(
        index=index, image=str(data.get("image", "")),
        objects=tuple(_object(o, where) for o in objects),
        dataset=data.get("dataset"), completion=data.get("completion"),
        finish_reason=data.get("finish_reason"), dropped=_dropped(data.get("dropped"), where),
        parse_valid=data.get("parse_valid"))


def read_predictions(path: Path) -> list[ImagePrediction]:
    """Every line of a predictions file; raises PredictionsError naming file:line on a bad line."""
    out: list[ImagePrediction] = []
    seen: dict[tuple[str | None, int], int] = {}
    with open(path, "rb") as f:
        for lineno, where, data, error in json_lines(path, f):
            if error is not None:
                raise PredictionsError(f"{where}: not a JSON line ({error})")
            pred = parse_prediction_line(data, where)
            key = (pred.dataset, pred.index)
            if key in seen:
                raise PredictionsError(f"{where}: record index {pred.index} (dataset {pred.dataset}) already has "
                                       f"a prediction at line {seen[key]}; one line per image")
            seen[key] = lineno
            out.append(pred)
    return out


def write_predictions(path: Path, predictions: Iterable[ImagePrediction]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(p.to_dict(), ensure_ascii=False) + "\n" for p in predictions)
    return path
