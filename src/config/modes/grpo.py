"""`grpo`: rlhf.rlhf_type grpo (recipe: src/trainers/grpo.py)."""

from __future__ import annotations

from ..errors import Problem
from ..resolve import MISSING, ResolvedConfig
from ..swift_fields import swift_field
from ..value_rules import ValueRule, at_least, within
from .common import RLHF_VALUE_RULES, rlhf_generation_rules, rlhf_lengths
from .spec import Lengths, ModeSpec, need


def rules(resolved: ResolvedConfig) -> list[Problem]:
    problems = need(resolved, "grpo", "rlhf.reward_funcs", "the reward functions to optimize")
    generations = resolved.get("rlhf.num_generations", MISSING)
    if generations is MISSING:
        generations = swift_field("num_generations").default_for(rlhf=True)
    if isinstance(generations, int) and generations < 2:
        problems.append(Problem(
            "GRPO compares several completions per prompt: num_generations must be >= 2.",
            key="rlhf.num_generations", where=resolved.where("rlhf.num_generations"),
        ))
    return problems + rlhf_generation_rules(resolved)


def lengths(resolved: ResolvedConfig, g: int) -> Lengths:
    """Only the prompt is encoded, then up to C tokens are generated after it: the prompt budget is G - C."""
    return rlhf_lengths(resolved, g, prompt_only=True)


VALUE_RULES = (
    *RLHF_VALUE_RULES,
    ValueRule("rlhf.top_p", "in [0, 1]", within(0, 1)),
    ValueRule("rlhf.beta", ">= 0 (GRPO: the KL coefficient)", at_least(0)),
)

SPEC = ModeSpec(
    "grpo", "rlhf", rules, lengths, rlhf_type="grpo", server_roles=("rlhf",), prompt_budget=True,
    no_telemetry="GRPO optimizes a policy-gradient objective over sampled completions with no supervised labels, "
                 "so per-dataset / per-token-type losses are undefined there. Per-completion rewards (with the "
                 "row they came from) are logged in completions.jsonl (rlhf.log_completions: true)",
    own_keys=tuple(f"rlhf.{k}" for k in (
        "reward_", "num_generations", "epsilon", "epsilon_high", "num_iterations", "scale_rewards", "advantage_estimator",
        "log_completions", "dynamic_sample", "repetition_", "cosine_", "soft_cache_length", "soft_max_length",
        "overlong_filter", "top_entropy_quantile")),
    value_rules=VALUE_RULES)
