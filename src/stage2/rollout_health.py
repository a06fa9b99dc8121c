"""Rollout health: what a batch of the model's own completions looks like, as counts and rates.

Reward hacking and collapse show up here before they show up in a reward: completions that stop
parsing, run into the length budget, answer nothing, repeat one box, or predict far more (or fewer)
objects than the image holds. GRPO (src/trainers/rollout_health.py) and stage2_ab Channel B
(src/trainers/stage2_ab_batch.py) compute the same counts per completion with :func:`completion_health`
and log the same keys (:data:`HEALTH_RATES`, plus :data:`COMPLETIONS`):

=============================  ================================================================
``rollout/parse_rate``         completions whose text is one valid CoordJSON document (the
                               salvage parse's ``valid``: nothing dropped, nothing left over)
``rollout/truncated_rate``     completions the rollout engine stopped at the length budget
                               (``finish_reason == "length"``: no end-of-turn token)
``rollout/empty_rate``         completions that answer nothing: an empty text (after the end-of-turn
                               token, whitespace and the assistant prefix) or ``{"objects": []}``
``rollout/duplicate_rate``     predicted objects that repeat an earlier object of the same
                               completion (same normalised desc, IoU >= 0.9) / predicted objects
``rollout/pred_gt_count_ratio``  predicted objects / ground-truth objects
``rollout/mean_length``        completion tokens / completions (the end-of-turn token included
                               when it was generated)
``rollout/completions``        completions counted (a sum)
=============================  ================================================================

"Predicted objects" are the objects the salvage parse keeps (:func:`~src.datasets.coordjson.parse_prediction`).
Every rate is a ratio of sums over the logging window and over ranks: ranks add their counts
(:meth:`RolloutHealth.vector` is summed elementwise), then the ratios are taken, so a rank with more
completions weighs more. A rate whose denominator is 0 (no completions, no predicted or no
ground-truth objects) is left out of the log rather than logged as 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields

from src.datasets.coordjson import END_TOKENS, ParseResult, parse_prediction
from src.datasets.iou import iou_matrix
from src.datasets.records import DenseObject
from src.datasets.render import PREFIX_SEPARATOR
from src.stage2.matching import normalize_desc

DUPLICATE_IOU = 0.9

PARSE_RATE = "rollout/parse_rate"
TRUNCATED_RATE = "rollout/truncated_rate"
EMPTY_RATE = "rollout/empty_rate"
DUPLICATE_RATE = "rollout/duplicate_rate"
PRED_GT_COUNT_RATIO = "rollout/pred_gt_count_ratio"
MEAN_LENGTH = "rollout/mean_length"
COMPLETIONS = "rollout/completions"


@dataclass(frozen=True)
class RolloutHealth:
    """Counts over some completions (one, a batch, a logging window, all ranks); ``+`` adds them."""

    completions: int = 0
    parsed: int = 0
    truncated: int = 0
    empty: int = 0
    pred_objects: int = 0
    duplicates: int = 0
    gt_objects: int = 0
    tokens: int = 0

    def __add__(self, other: RolloutHealth) -> RolloutHealth:
        return RolloutHealth(*(a + b for a, b in zip(astuple(self), astuple(other))))

    def vector(self) -> list[float]:
        """The counts in field order (what ranks sum elementwise)."""
        return [float(v) for v in astuple(self)]

    @classmethod
    def from_vector(cls, values: Sequence[float]) -> RolloutHealth:
        if len(values) != len(fields(cls)):
            raise ValueError(f"a RolloutHealth vector has {len(fields(cls))} values, got {len(values)}")
        return cls(*(round(v) for v in values))

    def ratios(self) -> dict[str, tuple[float, float]]:
        """Every rate as ``(numerator, denominator)`` (for reductions that sum both over ranks)."""
        return {key: (float(getattr(self, num)), float(getattr(self, den))) for key, num, den, _ in HEALTH_RATES}

    def values(self) -> dict[str, float]:
        """The log values: the rates with a non-zero denominator, and the completion count."""
        out = {key: num / den for key, (num, den) in self.ratios().items() if den != 0}
        out[COMPLETIONS] = float(self.completions)
        return out


# key, numerator field, denominator field, meaning
HEALTH_RATES: tuple[tuple[str, str, str, str], ...] = (
    (PARSE_RATE, "parsed", "completions", "completions that are one valid CoordJSON document"),
    (TRUNCATED_RATE, "truncated", "completions", "completions stopped by the length budget"),
    (EMPTY_RATE, "empty", "completions", "completions that answer nothing (empty text or no objects)"),
    (DUPLICATE_RATE, "duplicates", "pred_objects", "predicted objects repeating one of the same completion"),
    (PRED_GT_COUNT_RATIO, "pred_objects", "gt_objects", "predicted objects / ground-truth objects"),
    (MEAN_LENGTH, "tokens", "completions", "completion tokens per completion"),
)


def sum_vectors(rows: Iterable[Sequence[float]]) -> RolloutHealth:
    """The health of every rank from their :meth:`RolloutHealth.vector` rows."""
    rows = list(rows)
    if not rows:
        raise ValueError("no rollout-health vectors to sum")
    return RolloutHealth.from_vector([math.fsum(col) for col in zip(*rows)])


def parse_completion(text: str, coord_format: str, width: float, height: float,
                     prefix: str | None = None) -> ParseResult:
    """The salvage parse of a completion; ``prefix`` is the formatted assistant prefix line (or None)."""
    return parse_prediction(text, coord_format, width, height, "salvage",
                            prefix=None if prefix is None else prefix + PREFIX_SEPARATOR)


def duplicate_count(objects: Sequence[DenseObject], iou_threshold: float = DUPLICATE_IOU) -> int:
    """Objects that repeat an earlier one of ``objects``: same normalised desc and IoU >= ``iou_threshold``."""
    if len(objects) < 2:
        return 0
    iou = iou_matrix(objects, objects)
    descs = [normalize_desc(o.desc) for o in objects]
    return sum(1 for j in range(1, len(objects))
               if any(descs[i] == descs[j] and iou[i, j] >= iou_threshold for i in range(j)))


def answer_body(text: str, prefix: str | None = None) -> str:
    """The completion without surrounding whitespace, trailing end-of-turn tokens and the assistant prefix."""
    body = text.strip()
    while any(body.endswith(t) for t in END_TOKENS):
        body = body[: -len(next(t for t in END_TOKENS if body.endswith(t)))].rstrip()
    if prefix and body.startswith(prefix):
        body = body[len(prefix):]
    return body.strip()


def is_empty_answer(text: str, parse: ParseResult, prefix: str | None = None) -> bool:
    """Nothing answered: no object emitted (kept or dropped), and the text is empty or a valid empty document."""
    if parse.objects or parse.n_dropped:
        return False
    return parse.valid or not answer_body(text, prefix)


def completion_health(parse: ParseResult, text: str, *, n_tokens: int, finish_reason: str | None, n_gt: int,
                      prefix: str | None = None) -> RolloutHealth:
    """The counts of one completion: its salvage ``parse`` (:func:`parse_completion`), its text, how many
    tokens it has, why generation stopped, and how many ground-truth objects its image holds."""
    if n_tokens < 0 or n_gt < 0:
        raise ValueError(f"token and ground-truth counts must be >= 0, got {n_tokens}, {n_gt}")
    return RolloutHealth(
        completions=1, parsed=int(parse.valid), truncated=int(finish_reason == "length"),
        empty=int(is_empty_answer(text, parse, prefix)), pred_objects=len(parse.objects),
        duplicates=duplicate_count(parse.objects), gt_objects=n_gt, tokens=n_tokens)


__all__ = [
    "COMPLETIONS", "DUPLICATE_IOU", "DUPLICATE_RATE", "EMPTY_RATE", "HEALTH_RATES", "MEAN_LENGTH", "PARSE_RATE",
    "PRED_GT_COUNT_RATIO", "TRUNCATED_RATE", "RolloutHealth", "answer_body", "completion_health",
    "duplicate_count", "is_empty_answer", "parse_completion", "sum_vectors",
]
