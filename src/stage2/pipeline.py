"""Channel B for one sample, end to end and pure: rollout text -> parse -> strict filter -> match -> target.

This is the composition the trainer calls per sample; each step is its own module
(:mod:`~src.stage2.strict_filter`, :mod:`~src.stage2.matching`, :mod:`~src.stage2.targets`,
:mod:`~src.stage2.target_tokens`). The rollout is parsed only through
:func:`~src.datasets.coordjson.parse_prediction` in salvage mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from src.datasets.coordjson import ParseResult
from src.datasets.records import DenseObject
from src.stage2.matching import MatchResult, match_objects
from src.stage2.rollout_health import parse_completion
from src.stage2.strict_filter import StrictFilterResult, strict_filter
from src.stage2.targets import END_OF_TURN, ChannelBTarget, FpPolicy, MatchedCoords, build_channel_b_target


@dataclass(frozen=True)
class ChannelBPolicy:
    """The Channel-B knobs (from ``stage2_ab.channel_b`` and ``rollout_matching.matching``)."""

    coord_format: str
    ordering: str = "reading_order"
    iou_threshold: float = 0.5
    desc_weight: float = 0.0
    matched_coords: MatchedCoords = "auto"
    fp_policy: FpPolicy = "neutral"
    fn_injection: bool = True
    closure_supervision: bool = True
    end_of_turn: str | None = END_OF_TURN


@dataclass(frozen=True)
class ChannelBSample:
    parse: ParseResult
    filtered: StrictFilterResult
    match: MatchResult
    target: ChannelBTarget


def channel_b_sample(rollout_text: str, gts: Sequence[DenseObject], *, width: int, height: int,
                     policy: ChannelBPolicy, prefix: str | None = None) -> ChannelBSample:
    """Build one sample's Channel-B target from its rollout; ``prefix`` is the formatted assistant prefix."""
    parse = parse_completion(rollout_text, policy.coord_format, width, height, prefix)
    filtered = strict_filter(parse, width, height)
    preds = () if filtered.invalid_rollout else filtered.kept
    match = match_objects(preds, gts, iou_threshold=policy.iou_threshold, desc_weight=policy.desc_weight)
    target = build_channel_b_target(
        preds, gts, match, width=width, height=height, coord_format=policy.coord_format,
        ordering=policy.ordering, matched_coords=policy.matched_coords, fp_policy=policy.fp_policy,
        fn_injection=policy.fn_injection, closure_supervision=policy.closure_supervision, prefix=prefix,
        end_of_turn=policy.end_of_turn, rollout_invalid=filtered.invalid_rollout)
    return ChannelBSample(parse, filtered, match, target)


__all__ = ["ChannelBPolicy", "ChannelBSample", "channel_b_sample"]
