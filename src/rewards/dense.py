"""Dense-detection rewards: pure functions of (completion text, ground truth) -> float in [0, 1].

Model output is read only through :func:`src.datasets.coordjson.parse_prediction` (salvage
mode unless said otherwise), so pixel, norm1000 and coordinate-token outputs are all handled.

Rewards (names as registered with ms-swift):

``dense_format`` -- is the output our dense JSON? Graded so random text scores below a
    well-formed but wrong answer:

    ====================================================================  =================
    whole text is one valid document (strict parse, also ``{"objects": []}``)  1.0
    document header ok, some objects kept: ``0.5 + 0.4 * kept / emitted``  0.5 .. 0.9
    document header ok, text ends before the first complete object          0.25
    text before the document (chatter): half the score of the embedded doc  0 .. 0.45
    nothing recognisable (random text, empty text): :data:`FORMAT_PENALTY`  0.0
    ====================================================================  =================

``dense_parse`` -- fraction of emitted objects that survive salvage parsing
    (``kept / (kept + dropped)``). No object emitted: 1.0 only for a well-formed empty
    document when the ground truth is empty too, else 0.0.

``dense_loc_fbeta`` -- mean over IoU thresholds 0.50:0.05:0.95 of F-beta (beta=1 by
    default) where, at each threshold, a Hungarian matching maximises the number of pairs with
    IoU >= threshold (ties: larger total IoU). IoU: see :mod:`src.rewards.matching`. The
    ground truth is first snapped to the output grid (:attr:`DenseGroundTruth.reference`).
    Empty prediction (or unparsable) 0; empty prediction for an empty ground truth 1.

``dense_cat_f1`` -- category F1: pairs are matched (Hungarian) among IoU >= 0.5, preferring
    pairs whose desc matches; a matched pair counts its desc similarity (``exact``: 1 when the
    normalised descs are equal, else 0; ``token_f1``: token-overlap F1 of the descs).
    ``F1 = 2 * sum(similarity) / (n_pred + n_gt)``; same empty rules as localisation.
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np

from src.constants import GEOMETRY_KEYS
from src.datasets.coordjson import COORD_FORMATS, ParseResult, dequantize, parse_prediction, quantize
from src.datasets.iou import iou_matrix
from src.datasets.records import DenseObject
from src.datasets.render import PREFIX_SEPARATOR

from .matching import IOU_THRESHOLDS, f_beta, hungarian_match, match_at_threshold

FORMAT_PENALTY = 0.0
DOCUMENT_START = '{"objects"'
DescMatch = Literal["exact", "token_f1"]


@dataclass(frozen=True)
class DenseGroundTruth:
    """What a dense reward compares a completion with (one GRPO row)."""

    objects: tuple[DenseObject, ...]
    width: float
    height: float
    coord_format: str = "pixel"
    prefix: str | None = None  # the formatted assistant prefix line, if the targets carry one

    def __post_init__(self) -> None:
        if self.coord_format not in COORD_FORMATS:
            raise ValueError(f"coord_format must be one of {COORD_FORMATS}, got {self.coord_format!r}")
        if not (self.width > 0 and self.height > 0):
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")

    @cached_property
    def reference(self) -> tuple[DenseObject, ...]:
        """The ground truth as the model can write it: coordinates snapped to the output grid
        (pixel: round half up; norm1000 / coord_tokens: the bin centre), so the rendered target
        itself scores exactly 1."""
        return tuple(snap_object(o, self.coord_format, self.width, self.height) for o in self.objects)


def snap_object(obj: DenseObject, coord_format: str, width: float, height: float) -> DenseObject:
    if coord_format == "pixel":
        coords = tuple(float(math.floor(v + 0.5)) for v in obj.coords)
    else:
        coords = tuple(dequantize(quantize(v, width if k % 2 == 0 else height), width if k % 2 == 0 else height)
                       for k, v in enumerate(obj.coords))
    return DenseObject(obj.desc, obj.kind, coords)


def objects_from_dicts(items: Iterable[DenseObject | Mapping[str, Any]]) -> tuple[DenseObject, ...]:
    """Ground-truth objects from ``{desc, bbox_2d|poly|line}`` dicts (pixels).

    Geometry keys whose value is None are ignored (Arrow-backed datasets fill absent struct
    fields with None).
    """
    out = []
    for item in items:
        if isinstance(item, DenseObject):
            out.append(item)
            continue
        kinds = [k for k in GEOMETRY_KEYS if item.get(k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"ground-truth object needs exactly one of {GEOMETRY_KEYS}, got {dict(item)!r}")
        out.append(DenseObject(item["desc"], kinds[0], tuple(float(v) for v in item[kinds[0]])))
    return tuple(out)


# ---------------------------------------------------------------------------- parsing

@dataclass(frozen=True)
class _Read:
    result: ParseResult
    embedded: bool  # the document started after some other text


def _parse(text: str, gt: DenseGroundTruth, mode: str = "salvage") -> ParseResult:
    prefix = None if gt.prefix is None else gt.prefix + PREFIX_SEPARATOR
    return parse_prediction(text, gt.coord_format, gt.width, gt.height, mode, prefix=prefix)


def _read(text: str, gt: DenseGroundTruth) -> _Read:
    """Salvage-parse; when nothing at all was read, retry from the first ``{"objects"`` in the text."""
    result = _parse(text, gt)
    if result.objects or result.dropped:
        return _Read(result, False)
    start = text.find(DOCUMENT_START, 1)
    if start > 0:
        inner = _parse(text[start:], dataclasses.replace(gt, prefix=None))
        if inner.objects or inner.dropped or _header_only(inner):
            return _Read(inner, True)
    return _Read(result, False)


def _header_only(result: ParseResult) -> bool:
    """Nothing kept or dropped, and the text ran out after a correct start (``{"objects": [``)."""
    err = result.error
    return (not result.objects and not result.dropped and err is not None and err.reason == "truncated"
            and err.pos > len(DOCUMENT_START))


def _emitted(result: ParseResult) -> int:
    return len(result.objects) + result.n_dropped


# ---------------------------------------------------------------------------- rewards

def dense_format_score(text: str, gt: DenseGroundTruth) -> float:
    if _parse(text, gt, "strict").valid:
        return 1.0
    read = _read(text, gt)
    if _emitted(read.result):
        score = 0.5 + 0.4 * len(read.result.objects) / _emitted(read.result)
    elif _header_only(read.result):
        score = 0.25
    else:
        return FORMAT_PENALTY
    return score / 2 if read.embedded else score


def dense_parse_score(text: str, gt: DenseGroundTruth) -> float:
    read = _read(text, gt)
    emitted = _emitted(read.result)
    if emitted == 0:
        return 1.0 if not gt.objects and _parse(text, gt, "strict").valid else 0.0
    return len(read.result.objects) / emitted


def predicted_objects(text: str, gt: DenseGroundTruth) -> tuple[DenseObject, ...]:
    """Every valid object salvage parsing recovers from the completion (pixels)."""
    return _read(text, gt).result.objects


def loc_fbeta(preds: Sequence[DenseObject], gts: Sequence[DenseObject], beta: float = 1.0,
              thresholds: Sequence[float] = IOU_THRESHOLDS) -> float:
    """Mean F-beta over IoU thresholds with per-threshold Hungarian matching."""
    if not preds or not gts:
        return 1.0 if not preds and not gts else 0.0
    iou = iou_matrix(preds, gts)
    scores = [f_beta(len(match_at_threshold(iou, t)), len(preds), len(gts), beta) for t in thresholds]
    return float(np.mean(scores))


def dense_loc_fbeta_score(text: str, gt: DenseGroundTruth, beta: float = 1.0) -> float:
    return loc_fbeta(predicted_objects(text, gt), gt.reference, beta)


# ---------------------------------------------------------------------------- category / desc

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalize_desc(desc: str) -> str:
    """NFKC, lower case, punctuation and underscores -> spaces, whitespace collapsed."""
    return " ".join(_NON_WORD.sub(" ", unicodedata.normalize("NFKC", desc).lower()).split())


def token_f1(a: Sequence[str], b: Sequence[str]) -> float:
    """Multiset token-overlap F1 (1.0 when both are empty)."""
    if not a or not b:
        return 1.0 if not a and not b else 0.0
    common = sum((Counter(a) & Counter(b)).values())
    return 0.0 if common == 0 else 2 * common / (len(a) + len(b))


def desc_similarity(a: str, b: str, how: DescMatch = "exact") -> float:
    na, nb = normalize_desc(a), normalize_desc(b)
    if how == "exact":
        return float(na == nb)
    if how == "token_f1":
        return token_f1(na.split(), nb.split())
    raise ValueError(f"desc match must be 'exact' or 'token_f1', got {how!r}")


def cat_f1(preds: Sequence[DenseObject], gts: Sequence[DenseObject], iou_threshold: float = 0.5,
           how: DescMatch = "exact") -> float:
    """Category F1 over pairs matched at ``iou_threshold`` (see the module docstring)."""
    if not preds or not gts:
        return 1.0 if not preds and not gts else 0.0
    iou = iou_matrix(preds, gts)
    sim = np.array([[desc_similarity(p.desc, g.desc, how) for g in gts] for p in preds])
    allowed = iou >= iou_threshold - 1e-9
    scale = min(iou.shape) + 1  # one more similar pair beats any IoU total
    pairs = hungarian_match(sim * scale + iou / scale + 1e-6, allowed)
    tp = sum(sim[i, j] for i, j in pairs)
    return float(2 * tp / (len(preds) + len(gts)))


def dense_cat_f1_score(text: str, gt: DenseGroundTruth, how: DescMatch = "exact") -> float:
    return cat_f1(predicted_objects(text, gt), gt.reference, how=how)
