"""Thin ms-swift adapters over the pure rewards, registered into ``swift.rewards.orms``.

ms-swift's GRPO trainer calls each reward as ``reward(completions, **columns)`` where every
dataset column of the batch is a list aligned with ``completions`` (see
``swift/rl_core/grpo_algorithm.py``). Columns read here (written by the GRPO row builder):

* dense rewards: ``gt_objects`` (list of ``{desc, bbox_2d|poly|line}`` in pixels), ``width``,
  ``height``, ``coord_format``; optional ``assistant_prefix`` (the formatted prefix line).
* summary rewards: ``gt_summary``; optional ``assistant_prefix``; ``is_truncated`` (ms-swift).

A row whose ground-truth column is None (e.g. a summary row under a dense reward) scores None,
which ms-swift turns into NaN and leaves out of the weighted sum.

The adapter classes are named after their registry key (``dense_format`` ...), because ms-swift
logs each reward under its class name: ``rewards/dense_format/mean``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from swift.rewards import ORM, orms

from .dense import (
    DenseGroundTruth,
    dense_cat_f1_score,
    dense_format_score,
    dense_loc_fbeta_score,
    dense_parse_score,
    objects_from_dicts,
)
from .summary import summary_content_score, summary_format_score

DenseScore = Callable[[str, DenseGroundTruth], float]


def completion_text(completion: Any) -> str:
    """The assistant text of one completion (a string, or a message / content-part list)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return completion_text(completion.get("content", ""))
    if isinstance(completion, (list, tuple)):
        return "".join(completion_text(part.get("text", "") if isinstance(part, dict) else part)
                       for part in completion)
    return ""


def _column(kwargs: dict[str, Any], name: str, n: int, required: bool) -> Sequence[Any]:
    values = kwargs.get(name)
    if values is None:
        if required:
            raise ValueError(f"reward needs the dataset column {name!r} in every GRPO row; got columns "
                             f"{sorted(k for k in kwargs if k != 'trainer_state')}")
        return [None] * n
    if len(values) != n:
        raise ValueError(f"column {name!r} has {len(values)} values for {n} completions")
    return values


def dense_ground_truths(n: int, kwargs: dict[str, Any]) -> list[DenseGroundTruth | None]:
    objects = _column(kwargs, "gt_objects", n, required=True)
    widths, heights = _column(kwargs, "width", n, True), _column(kwargs, "height", n, True)
    formats = _column(kwargs, "coord_format", n, True)
    prefixes = _column(kwargs, "assistant_prefix", n, False)
    return [
        None if objs is None else DenseGroundTruth(objects_from_dicts(objs), float(w), float(h), fmt, pfx)
        for objs, w, h, fmt, pfx in zip(objects, widths, heights, formats, prefixes)
    ]


class DenseReward(ORM):
    """Base adapter: ``score(text, ground_truth)`` per completion."""

    score: DenseScore

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        gts = dense_ground_truths(len(completions), kwargs)
        score = type(self).score
        return [None if gt is None else float(score(completion_text(c), gt)) for c, gt in zip(completions, gts)]


class SummaryFormatReward(ORM):
    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        n = len(completions)
        prefixes = _column(kwargs, "assistant_prefix", n, False)
        truncated = _column(kwargs, "is_truncated", n, False)
        return [summary_format_score(completion_text(c), prefix=p, truncated=bool(t))
                for c, p, t in zip(completions, prefixes, truncated)]


class SummaryContentReward(ORM):
    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        n = len(completions)
        summaries = _column(kwargs, "gt_summary", n, True)
        prefixes = _column(kwargs, "assistant_prefix", n, False)
        return [None if gt is None else summary_content_score(completion_text(c), gt, prefix=p)
                for c, gt, p in zip(completions, summaries, prefixes)]


def _dense(name: str, fn: DenseScore) -> type[ORM]:
    return type(name, (DenseReward,), {"score": staticmethod(fn), "__module__": __name__})


def _named(name: str, base: type[ORM]) -> type[ORM]:
    return type(name, (base,), {"__module__": __name__})


REWARDS: dict[str, type[ORM]] = {
    "dense_format": _dense("dense_format", dense_format_score),
    "dense_parse": _dense("dense_parse", dense_parse_score),
    "dense_loc_fbeta": _dense("dense_loc_fbeta", dense_loc_fbeta_score),
    "dense_cat_f1": _dense("dense_cat_f1", dense_cat_f1_score),
    "summary_format": _named("summary_format", SummaryFormatReward),
    "summary_content": _named("summary_content", SummaryContentReward),
}


def register_rewards() -> tuple[str, ...]:
    """Add our rewards to ms-swift's registry (idempotent); returns their names."""
    for name, cls in REWARDS.items():
        existing = orms.get(name)
        if existing is not None and existing is not cls:
            raise RuntimeError(f"ms-swift already has a reward named {name!r} ({existing!r})")
        orms[name] = cls
    return tuple(REWARDS)
