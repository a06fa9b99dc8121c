"""`sft`: no rlhf_type, no trainer variant (recipe: src/trainers/sft.py)."""

from __future__ import annotations

from ..errors import Problem
from ..resolve import ResolvedConfig
from .common import detection_eval_interval, rejects_rlhf_settings, rejects_stage2_sections
from .rules import Lengths, ModeRules


def rules(resolved: ResolvedConfig) -> list[Problem]:
    return (rejects_rlhf_settings(resolved, "sft") + rejects_stage2_sections(resolved, "sft")
            + detection_eval_interval(resolved))


def lengths(resolved: ResolvedConfig, g: int) -> Lengths:
    """Whole conversations are encoded: every sample fits G."""
    return Lengths({"model.max_model_len": g, "template.max_length": g}, [])


RULES = ModeRules("sft", rules, lengths)
