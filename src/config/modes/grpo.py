"""`grpo`: rlhf.rlhf_type grpo (recipe: src/trainers/grpo.py)."""

from __future__ import annotations

from ..errors import Problem
from ..resolve import MISSING, ResolvedConfig
from ..swift_fields import swift_field
from .common import rejects_stage2_sections, rlhf_lengths, rlhf_rules
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
    return problems + rlhf_rules(resolved, "grpo")


def lengths(resolved: ResolvedConfig, g: int) -> Lengths:
    """Only the prompt is encoded, then up to C tokens are generated after it: the prompt budget is G - C."""
    return rlhf_lengths(resolved, g, prompt_only=True)


RULES = ModeRules("grpo", rules, lengths)
