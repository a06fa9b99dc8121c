"""Stage-2 AB metric keys, their cross-rank reductions, and a pure reduction over per-rank values.

Every metric declares how ranks combine (:data:`METRICS`):

* ``sum``: a count; the global value is the sum over ranks.
* ``ratio``: a mean of counts; each rank reports ``(numerator, denominator)`` and the global value
  is ``sum(numerators) / sum(denominators)`` (never a mean of per-rank means, so a rank with
  more samples weighs more). Omitted from the result when the summed denominator is 0.
* ``identical``: a value every rank computes alike (a pure function of the global step, e.g.
  ``stage2_ab/b_ratio_realized``); the reduction checks all ranks agree and raises otherwise.

For collectives, :func:`pack` turns one rank's values into a fixed-length float vector in
registry order (the same length and layout on every rank, whatever it saw), so the trainer can
``all_gather`` it unconditionally; :func:`reduce_packed` reduces the gathered vectors.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from src.stage2.matching import MatchResult
from src.stage2.rollout_health import COMPLETIONS, HEALTH_RATES, RolloutHealth
from src.stage2.schedule import RatioLike, is_channel_b, realized_b_ratio
from src.stage2.strict_filter import ALL_DROP_REASONS, StrictFilterResult

Reduction = Literal["sum", "ratio", "identical"]
MetricValue = float | int | tuple[float, float]

B_RATIO_REALIZED = "stage2_ab/b_ratio_realized"
CHANNEL_IS_B = "stage2_ab/channel_is_b"
INVALID_ROLLOUT = "stage2_ab/channel_b/invalid_rollout"
N_VALID_PRED = "stage2_ab/channel_b/strict_drop/N_valid_pred"
N_DROP_INVALID = "stage2_ab/channel_b/strict_drop/N_drop_invalid"
DROP_REASON_PREFIX = "stage2_ab/channel_b/strict_drop/reason/"
ROLLOUTS = "stage2_ab/channel_b/rollouts"
INVALID_ROLLOUT_RATE = "stage2_ab/channel_b/invalid_rollout_rate"
MATCHED = "stage2_ab/channel_b/match/matched"
FP = "stage2_ab/channel_b/match/fp"
FN = "stage2_ab/channel_b/match/fn"
PRECISION = "stage2_ab/channel_b/match/precision"
RECALL = "stage2_ab/channel_b/match/recall"
ROLLOUT_SECONDS = "stage2_ab/channel_b/rollout/seconds"
ROLLOUT_TOKENS = "stage2_ab/channel_b/rollout/generated_tokens"
ROLLOUT_TOKENS_PER_S = "stage2_ab/channel_b/rollout/tokens_per_s"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    key: str
    reduction: Reduction
    doc: str

    @property
    def width(self) -> int:
        return 2 if self.reduction == "ratio" else 1


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(B_RATIO_REALIZED, "identical", "channel-B steps / steps so far (pure function of the step)"),
    MetricSpec(CHANNEL_IS_B, "identical", "1 when this optimizer step ran channel B"),
    MetricSpec(INVALID_ROLLOUT, "sum", "rollouts with nothing parseable (fell back to the empty prefix)"),
    MetricSpec(N_VALID_PRED, "sum", "predictions kept by the strict filter"),
    MetricSpec(N_DROP_INVALID, "sum", "predictions dropped by the salvage parse or the strict filter"),
    *(MetricSpec(DROP_REASON_PREFIX + r, "sum", f"predictions dropped for {r}") for r in ALL_DROP_REASONS),
    MetricSpec(ROLLOUTS, "sum", "channel-B samples (rollouts)"),
    MetricSpec(INVALID_ROLLOUT_RATE, "ratio", "invalid rollouts / rollouts"),
    MetricSpec(MATCHED, "sum", "kept predictions matched to ground truth"),
    MetricSpec(FP, "sum", "kept predictions left unmatched (FP-neutral)"),
    MetricSpec(FN, "sum", "ground-truth objects left unmatched (FN-injected)"),
    MetricSpec(PRECISION, "ratio", "matched / (matched + fp)"),
    MetricSpec(RECALL, "ratio", "matched / (matched + fn)"),
    MetricSpec(ROLLOUT_SECONDS, "ratio", "seconds per rollout call (sum of seconds / sum of calls)"),
    MetricSpec(ROLLOUT_TOKENS, "sum", "generated tokens"),
    MetricSpec(ROLLOUT_TOKENS_PER_S, "ratio", "generated tokens / rollout seconds"),
    # rollout health of the Channel-B rollouts: the keys GRPO logs too (src/stage2/rollout_health.py)
    MetricSpec(COMPLETIONS, "sum", "rollouts counted by rollout health"),
    *(MetricSpec(key, "ratio", doc) for key, _, _, doc in HEALTH_RATES),
)
SPECS: dict[str, MetricSpec] = {s.key: s for s in METRICS}
PACKED_WIDTH = sum(s.width for s in METRICS)


def pack(values: Mapping[str, MetricValue]) -> list[float]:
    """One rank's values as a fixed-length vector (missing: 0 / (0, 0); missing identical: NaN)."""
    unknown = sorted(set(values) - set(SPECS))
    if unknown:
        raise KeyError(f"unknown stage2_ab metric keys {unknown}; declare them in METRICS")
    out: list[float] = []
    for spec in METRICS:
        v = values.get(spec.key)
        if spec.reduction == "ratio":
            if v is not None and not (isinstance(v, tuple) and len(v) == 2):
                raise TypeError(f"{spec.key} is a ratio metric: give (numerator, denominator), got {v!r}")
            num, den = (0.0, 0.0) if v is None else v
            out += [float(num), float(den)]
        elif isinstance(v, tuple):
            raise TypeError(f"{spec.key} is a {spec.reduction} metric; got a (numerator, denominator) pair")
        else:
            out.append(math.nan if v is None and spec.reduction == "identical" else float(v or 0.0))
    return out


def reduce_packed(per_rank: Sequence[Sequence[float]]) -> dict[str, float]:
    """Reduce the packed vectors of every rank (see the module doc)."""
    if not per_rank:
        raise ValueError("no ranks to reduce")
    for r, vec in enumerate(per_rank):
        if len(vec) != PACKED_WIDTH:
            raise ValueError(f"rank {r} sent {len(vec)} values, expected {PACKED_WIDTH}")
    out: dict[str, float] = {}
    col = 0
    for spec in METRICS:
        column = [float(vec[col]) for vec in per_rank]
        if spec.reduction == "sum":
            out[spec.key] = math.fsum(column)
        elif spec.reduction == "ratio":
            num = math.fsum(column)
            den = math.fsum(float(vec[col + 1]) for vec in per_rank)
            if den != 0:
                out[spec.key] = num / den
        else:
            present = [v for v in column if not math.isnan(v)]
            if present and (len(present) != len(column) or any(v != present[0] for v in present)):
                raise ValueError(f"{spec.key} must be identical on every rank, got {column}")
            if present:
                out[spec.key] = present[0]
        col += spec.width
    return out


def schedule_values(step: int, b_ratio: RatioLike) -> dict[str, MetricValue]:
    """The identical-on-every-rank schedule metrics after optimizer step ``step`` ran."""
    return {B_RATIO_REALIZED: realized_b_ratio(step + 1, b_ratio),
            CHANNEL_IS_B: float(is_channel_b(step, b_ratio))}


@dataclass
class ChannelBCounts:
    """One rank's channel-B counters over a logging window (add samples, then :meth:`values`)."""

    rollouts: int = 0
    invalid_rollouts: int = 0
    n_valid_pred: int = 0
    n_drop_invalid: int = 0
    drops: Counter = field(default_factory=Counter)
    matched: int = 0
    fp: int = 0
    fn: int = 0
    rollout_calls: int = 0
    rollout_seconds: float = 0.0
    generated_tokens: int = 0
    health: RolloutHealth = field(default_factory=RolloutHealth)

    def add_sample(self, filtered: StrictFilterResult, match: MatchResult) -> None:
        self.rollouts += 1
        self.invalid_rollouts += int(filtered.invalid_rollout)
        self.n_valid_pred += filtered.n_valid_pred
        self.n_drop_invalid += filtered.n_drop_invalid
        self.drops.update(filtered.dropped)
        self.matched += match.n_matched
        self.fp += match.n_fp
        self.fn += match.n_fn

    def add_rollout(self, seconds: float, generated_tokens: int) -> None:
        """One generation call (a batch of rollouts) took ``seconds`` and produced ``generated_tokens``."""
        if seconds < 0 or generated_tokens < 0:
            raise ValueError(f"rollout seconds and tokens must be >= 0, got {seconds}, {generated_tokens}")
        self.rollout_calls += 1
        self.rollout_seconds += float(seconds)
        self.generated_tokens += int(generated_tokens)

    def values(self) -> dict[str, MetricValue]:
        out: dict[str, MetricValue] = {
            INVALID_ROLLOUT: self.invalid_rollouts,
            N_VALID_PRED: self.n_valid_pred,
            N_DROP_INVALID: self.n_drop_invalid,
            ROLLOUTS: self.rollouts,
            INVALID_ROLLOUT_RATE: (self.invalid_rollouts, self.rollouts),
            MATCHED: self.matched,
            FP: self.fp,
            FN: self.fn,
            PRECISION: (self.matched, self.matched + self.fp),
            RECALL: (self.matched, self.matched + self.fn),
            ROLLOUT_SECONDS: (self.rollout_seconds, self.rollout_calls),
            ROLLOUT_TOKENS: self.generated_tokens,
            ROLLOUT_TOKENS_PER_S: (self.generated_tokens, self.rollout_seconds),
        }
        out.update({DROP_REASON_PREFIX + r: self.drops.get(r, 0) for r in ALL_DROP_REASONS})
        out.update(self.health.ratios())
        out[COMPLETIONS] = self.health.completions
        return out


__all__ = [
    "B_RATIO_REALIZED", "CHANNEL_IS_B", "DROP_REASON_PREFIX", "FN", "FP", "INVALID_ROLLOUT",
    "INVALID_ROLLOUT_RATE", "MATCHED", "METRICS", "N_DROP_INVALID", "N_VALID_PRED", "PACKED_WIDTH",
    "PRECISION", "RECALL", "ROLLOUTS", "ROLLOUT_SECONDS", "ROLLOUT_TOKENS", "ROLLOUT_TOKENS_PER_S",
    "SPECS", "ChannelBCounts", "MetricSpec", "MetricValue", "Reduction", "pack", "reduce_packed",
    "schedule_values",
]
