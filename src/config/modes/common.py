"""Rules more than one mode shares (each mode module composes the ones it needs, in order)."""

from __future__ import annotations

from ..errors import Problem
from ..resolve import MISSING, ResolvedConfig
from ..swift_fields import swift_field
from ..value_rules import ValueRule, above, at_least
from .spec import Lengths

# value rules of every RLHF mode (each adds its own)
RLHF_VALUE_RULES = (ValueRule("rlhf.temperature", "> 0", above(0)),
                    ValueRule("rlhf.max_completion_length", ">= 1", at_least(1)))


def rlhf_generation_rules(resolved: ResolvedConfig) -> list[Problem]:
    """RLHF modes: the vLLM switches, and max_new_tokens (which would silently replace the completion budget)."""
    problems = _vllm_problems(resolved)
    key = "training.max_new_tokens"
    if resolved.get(key, None) is not None:
        problems.append(Problem(
            "in gkd/grpo runs ms-swift lets max_new_tokens silently replace "
            "rlhf.max_completion_length; set only rlhf.max_completion_length.",
            key=key, where=resolved.where(key),
        ))
    return problems


def _vllm_problems(resolved: ResolvedConfig) -> list[Problem]:
    use_vllm = resolved.get("rlhf.use_vllm", False)
    vllm_mode = resolved.get("rlhf.vllm_mode", None)
    if not use_vllm:
        if vllm_mode is not None:
            return [Problem("vllm_mode is set but rlhf.use_vllm is false.", key="rlhf.vllm_mode",
                            where=resolved.where("rlhf.vllm_mode"))]
        return []
    if vllm_mode is None:
        return [Problem("rlhf.use_vllm: true needs vllm_mode: colocate | server.", key="rlhf.vllm_mode",
                        where=resolved.where("rlhf.use_vllm"))]
    if vllm_mode == "server" and not (
        resolved.get("rlhf.vllm_server_host", None) or resolved.get("rlhf.vllm_server_base_url", None)
    ):
        return [Problem("vllm_mode: server needs rlhf.vllm_server_host (and vllm_server_port) or "
                        "rlhf.vllm_server_base_url.", key="rlhf.vllm_server_host",
                        where=resolved.where("rlhf.vllm_mode"))]
    return []


def completion_budget(resolved: ResolvedConfig) -> tuple[int | None, str]:
    """gkd / grpo: C and where it comes from; None when the written value is not an int (the schema check
    reports that)."""
    value = resolved.get("rlhf.max_completion_length", MISSING)
    if value is MISSING or value is None:
        default = swift_field("max_completion_length").default_for(rlhf=True)
        return int(default), f"ms-swift's default rlhf.max_completion_length {default}"
    if not isinstance(value, int) or isinstance(value, bool):
        return None, ""
    return value, f"rlhf.max_completion_length {value} ({resolved.where('rlhf.max_completion_length')})"


def rlhf_lengths(resolved: ResolvedConfig, g: int, *, prompt_only: bool) -> Lengths:
    """gkd / grpo: the completion budget C must fit inside G; ``template.max_length`` is G when prompt and
    response are encoded together, G - C when only the prompt is (``prompt_only``); vLLM holds G."""
    completion, source = completion_budget(resolved)
    if completion is None or completion >= g:
        return Lengths({}, [] if completion is None else [Problem(
            f"the completion budget ({source}) must be smaller than global_max_length {g} "
            f"({resolved.where('global_max_length')}), which bounds prompt + completion.",
            key="rlhf.max_completion_length", where=resolved.where("rlhf.max_completion_length"))])
    implied = {"model.max_model_len": g, "template.max_length": g - completion if prompt_only else g}
    if resolved.get("rlhf.use_vllm", False) is True:
        implied["rlhf.vllm_max_model_len"] = g
    return Lengths(implied, [], note=f" (GRPO prompt budget = {g} - {source})" if prompt_only else "")
