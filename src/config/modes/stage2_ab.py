"""`stage2_ab`: custom.trainer_variant stage2_ab_training (recipe: src/trainers/stage2_ab.py)."""

from __future__ import annotations

from ..errors import Problem
from ..resolve import ResolvedConfig
from .common import detection_eval_interval, rejects_rlhf_settings
from .rules import Lengths, ModeRules, need


def rules(resolved: ResolvedConfig) -> list[Problem]:
    return (rejects_rlhf_settings(resolved, "stage2_ab")
            + need(resolved, "stage2_ab", "stage2_ab",
                   "the channel schedule and channel-B settings (stage2_ab.schedule.b_ratio, ...)")
            + need(resolved, "stage2_ab", "rollout_matching", "the rollout backend, budget and matching settings")
            + detection_eval_interval(resolved))


def lengths(resolved: ResolvedConfig, g: int) -> Lengths:
    """Channel A encodes whole conversations (G); a rollout must fit inside G; a vLLM block holds G."""
    implied = {"model.max_model_len": g, "template.max_length": g}
    problems = []
    new_tokens = resolved.get("rollout_matching.max_new_tokens", None)
    if isinstance(new_tokens, int) and not isinstance(new_tokens, bool) and new_tokens >= g:
        problems.append(Problem(
            f"the rollout budget {new_tokens} must be smaller than global_max_length {g} "
            f"({resolved.where('global_max_length')}).",
            key="rollout_matching.max_new_tokens", where=resolved.where("rollout_matching.max_new_tokens")))
    if isinstance(resolved.get("rollout_matching.vllm", None), dict):
        implied["rollout_matching.vllm.max_model_len"] = g
    return Lengths(implied, problems)


RULES = ModeRules("stage2_ab", rules, lengths)
