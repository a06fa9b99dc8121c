"""`grpo`: rlhf.rlhf_type grpo (recipe: src/trainers/grpo.py)."""

from __future__ import annotations

from ..errors import Problem
from ..resolve import MISSING, ResolvedConfig
from ..swift_fields import swift_field
from .common import (
    completion_fits,
    rejects_detection_eval,
    rejects_stage2_sections,
    rlhf_generation_rules,
    rlhf_vllm_length,
)
from .rules import Lengths, ModeRules, need


def rules(resolved: ResolvedConfig) -> list[Problem]:
    problems = rejects_stage2_sections(resolved, "grpo")
    problems += need(resolved, "grpo", "rlhf.reward_funcs", "the reward functions to optimize")
    generations = resolved.get("rlhf.num_generations", MISSING)
    if generations is MISSING:
        generations = swift_field("num_generations").default_for(rlhf=True)
    if isinstance(generations, int) and generations < 2:
        problems.append(Problem(
            "GRPO compares several completions per prompt: num_generations must be >= 2.",
            key="rlhf.num_generations", where=resolved.where("rlhf.num_generations"),
        ))
    return problems + rejects_detection_eval(resolved, "grpo") + rlhf_generation_rules(resolved)


def lengths(resolved: ResolvedConfig, g: int) -> Lengths:
    """Only the prompt is encoded, then up to C tokens generated after it: the prompt budget is G - C."""
    completion, source, problems = completion_fits(resolved, g)
    if completion is None:
        return Lengths({}, problems)
    implied = {"model.max_model_len": g, "template.max_length": g - completion, **rlhf_vllm_length(resolved, g)}
    return Lengths(implied, [], note=f" (GRPO prompt budget = {g} - {source})")


RULES = ModeRules("grpo", rules, lengths)
