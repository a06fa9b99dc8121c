"""`stage2_ab`: `mode: stage2_ab` (or custom.trainer_variant stage2_ab_training) (recipe: src/trainers/stage2_ab.py)."""

from __future__ import annotations

from ..errors import Problem
from ..resolve import ResolvedConfig
from ..schema_stage2 import RolloutMatchingConfig, Stage2ABConfig
from .spec import Lengths, ModeSpec, need

VLLM_MODE = "rollout_matching.vllm.mode"


def rules(resolved: ResolvedConfig) -> list[Problem]:
    problems = (need(resolved, "stage2_ab", "stage2_ab",
                     "the channel schedule and channel-B settings (stage2_ab.schedule.b_ratio, ...)")
                + need(resolved, "stage2_ab", "rollout_matching", "the rollout backend, budget and matching settings"))
    if resolved.get(VLLM_MODE, None) == "colocate":
        problems.append(Problem(
            "colocate is not supported by the stage2_ab trainer: its vLLM backend only talks to external servers "
            "started by scripts/train_stage2.sh. Use mode: server with rollout_matching.vllm.servers, or "
            "backend: hf.", key=VLLM_MODE, where=resolved.where(VLLM_MODE)))
    return problems


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


SPEC = ModeSpec("stage2_ab", "sft", rules, lengths, trainer_variant="stage2_ab_training",
                telemetry_loss="cross_entropy", detection_eval=True, server_roles=("rollout_matching",),
                sections={"stage2_ab": Stage2ABConfig, "rollout_matching": RolloutMatchingConfig},
                rollout_budget_key="rollout_matching.max_new_tokens")
