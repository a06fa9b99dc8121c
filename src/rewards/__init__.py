"""Reward functions for GRPO on dense detection and summaries.

Pure scoring lives in :mod:`.dense` and :mod:`.summary` (no ms-swift import); the ms-swift
adapters are in :mod:`.swift_orm` and are registered by :func:`register_rewards`.
"""

from __future__ import annotations

from .dense import (
    FORMAT_PENALTY,
    DenseGroundTruth,
    cat_f1,
    dense_cat_f1_score,
    dense_format_score,
    dense_loc_fbeta_score,
    dense_parse_score,
    loc_fbeta,
    objects_from_dicts,
    predicted_objects,
)
from .summary import summary_content_score, summary_format_score


def register_rewards() -> tuple[str, ...]:
    """Register every reward with ms-swift's ``orms`` registry (imports ms-swift)."""
    from .swift_orm import register_rewards as _register

    return _register()


__all__ = [
    "FORMAT_PENALTY",
    "DenseGroundTruth",
    "cat_f1",
    "dense_cat_f1_score",
    "dense_format_score",
    "dense_loc_fbeta_score",
    "dense_parse_score",
    "loc_fbeta",
    "objects_from_dicts",
    "predicted_objects",
    "register_rewards",
    "summary_content_score",
    "summary_format_score",
]
