"""`gkd`: rlhf.rlhf_type gkd, optionally custom.trainer_variant gkd_monitor (recipe: src/trainers/gkd.py)."""

from __future__ import annotations

from ..errors import Problem
from ..resolve import ResolvedConfig
from .common import rejects_stage2_sections, rlhf_lengths, rlhf_rules
from .rules import Lengths, ModeRules, need


def rules(resolved: ResolvedConfig) -> list[Problem]:
    return (rejects_stage2_sections(resolved, "gkd")
            + need(resolved, "gkd", "rlhf.teacher_model", "the teacher to distill from (a local model directory)")
            + rlhf_rules(resolved, "gkd"))


def lengths(resolved: ResolvedConfig, g: int) -> Lengths:
    """Prompt + response (dataset or generated) are encoded together: G."""
    return rlhf_lengths(resolved, g, prompt_only=False)


RULES = ModeRules("gkd", rules, lengths)
