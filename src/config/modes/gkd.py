"""`gkd`: rlhf.rlhf_type gkd, optionally custom.trainer_variant gkd_monitor (recipe: src/trainers/gkd.py)."""

from __future__ import annotations

from ..errors import Problem
from ..resolve import ResolvedConfig
from .common import (
    completion_fits,
    rejects_detection_eval,
    rejects_stage2_sections,
    rlhf_generation_rules,
    rlhf_vllm_length,
)
from .rules import Lengths, ModeRules, need


def rules(resolved: ResolvedConfig) -> list[Problem]:
    return (rejects_stage2_sections(resolved, "gkd")
            + need(resolved, "gkd", "rlhf.teacher_model", "the teacher to distill from (a local model directory)")
            + rejects_detection_eval(resolved, "gkd") + rlhf_generation_rules(resolved))


def lengths(resolved: ResolvedConfig, g: int) -> Lengths:
    """Prompt + response (dataset or generated) are encoded together: G; the completion budget fits inside G."""
    completion, _, problems = completion_fits(resolved, g)
    if completion is None:
        return Lengths({}, problems)
    return Lengths({"model.max_model_len": g, "template.max_length": g, **rlhf_vllm_length(resolved, g)}, [])


RULES = ModeRules("gkd", rules, lengths)
