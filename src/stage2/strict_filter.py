"""Channel-B strict filter: a salvage parse of a rollout -> the predictions that may enter training.

Input is the :class:`~src.datasets.coordjson.ParseResult` of
``parse_prediction(text, coord_format, width, height, "salvage")`` (the only way model output is
parsed). Salvage already dropped malformed objects and counted them by reason
(:data:`~src.datasets.coordjson.DROP_REASONS`, e.g. a truncated last object). On top of that
this filter drops, in order, objects that fail these extra checks (reasons in :data:`EXTRA_REASONS`):

* ``out_of_image``: a point outside ``[0, width] x [0, height]`` (cannot happen for
  norm1000 / coordinate tokens, kept as a guard for any caller);
* ``degenerate``: a ``bbox_2d`` with zero width or zero height, a ``poly`` with zero area
  (fewer than 3 distinct points or all points collinear), a ``line`` whose points are all equal.

Counts: ``n_valid_pred`` = kept objects; ``n_drop_invalid`` = salvage drops + extra drops.
A rollout is *invalid* when nothing was kept and the text was not one well-formed document
(nothing parseable, truncated before the first complete object, not ``{"objects": [...]}``).
A well-formed ``{"objects": []}`` (or a document whose objects were all dropped by the extra
checks) is a valid rollout with zero predictions. Either way Channel B falls back to the empty
prefix; the flag only feeds ``stage2_ab/channel_b/invalid_rollout``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from src.datasets.coordjson import DROP_REASONS, ParseResult
from src.datasets.geometry import polygon_area
from src.datasets.records import DenseObject

EXTRA_REASONS: tuple[str, ...] = ("out_of_image", "degenerate")
ALL_DROP_REASONS: tuple[str, ...] = (*DROP_REASONS, *EXTRA_REASONS)


@dataclass(frozen=True)
class StrictFilterResult:
    """The kept predictions (in predicted order) and what was dropped, by reason."""

    kept: tuple[DenseObject, ...]
    kept_indices: tuple[int, ...]  # indices into ParseResult.objects
    dropped: Counter = field(default_factory=Counter)  # salvage + extra reasons
    invalid_rollout: bool = False

    @property
    def n_valid_pred(self) -> int:
        return len(self.kept)

    @property
    def n_drop_invalid(self) -> int:
        return sum(self.dropped.values())


def _outside(obj: DenseObject, width: float, height: float) -> bool:
    return any(not (0 <= x <= width and 0 <= y <= height) for x, y in obj.points)


def _degenerate(obj: DenseObject) -> bool:
    pts = obj.points
    if obj.kind == "bbox_2d":
        x1, y1, x2, y2 = obj.coords
        return x2 <= x1 or y2 <= y1
    if obj.kind == "poly":
        return len(set(pts)) < 3 or polygon_area(pts) <= 0.0
    return len(set(pts)) < 2  # line


def extra_drop_reason(obj: DenseObject, width: float, height: float) -> str | None:
    """The first extra strict check ``obj`` fails (:data:`EXTRA_REASONS`), or None."""
    if _outside(obj, width, height):
        return "out_of_image"
    if _degenerate(obj):
        return "degenerate"
    return None


def strict_filter(parse: ParseResult, width: float, height: float) -> StrictFilterResult:
    """Keep the valid predictions of a salvage parse; count every drop by reason."""
    dropped: Counter = Counter({r: n for r, n in parse.dropped.items() if n})
    kept: list[DenseObject] = []
    indices: list[int] = []
    for i, obj in enumerate(parse.objects):
        reason = extra_drop_reason(obj, width, height)
        if reason is None:
            kept.append(obj)
            indices.append(i)
        else:
            dropped[reason] += 1
    invalid = not kept and not parse.valid and not parse.objects
    return StrictFilterResult(tuple(kept), tuple(indices), dropped, invalid)


def drop_counts(result: StrictFilterResult) -> Mapping[str, int]:
    """Drops by reason over :data:`ALL_DROP_REASONS` (every reason present, zeros included)."""
    out = {r: int(result.dropped.get(r, 0)) for r in ALL_DROP_REASONS}
    other = sum(n for r, n in result.dropped.items() if r not in out)
    if other:
        out["other"] = other
    return out


__all__ = [
    "ALL_DROP_REASONS",
    "EXTRA_REASONS",
    "StrictFilterResult",
    "drop_counts",
    "extra_drop_reason",
    "strict_filter",
]
