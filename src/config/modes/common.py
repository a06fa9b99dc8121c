"""Rules more than one mode shares (each mode module composes the ones it needs, in order)."""

from __future__ import annotations

from ..errors import Problem
from ..resolve import MISSING, ResolvedConfig
from ..swift_fields import swift_field
from .spec import Lengths

DETECTION_EVAL = "custom.detection_eval"


def rejects_rlhf_settings(resolved: ResolvedConfig, mode: str) -> list[Problem]:
    """Modes on ms-swift's SFT arguments: an rlhf section would be silently ignored."""
    section = resolved.get("rlhf", None)
    keys = sorted(k for k, v in section.items() if not (k == "rlhf_type" and v is None)) if isinstance(
        section, dict) else []
    return [Problem(f"rlhf settings have no effect in a {mode} run; remove them or set rlhf.rlhf_type "
                    "(gkd | grpo).", key=f"rlhf.{key}", where=resolved.where(f"rlhf.{key}")) for key in keys]


def detection_eval_interval(resolved: ResolvedConfig) -> list[Problem]:
    """Modes with in-training detection eval: `custom.detection_eval` needs an interval (its own or
    training.eval_steps)."""
    key = DETECTION_EVAL
    if resolved.get(f"{key}.enabled", None) is not True:
        return []
    eval_steps = resolved.get("training.eval_steps", None)
    if resolved.get(f"{key}.every_steps", None) is None and not (
            isinstance(eval_steps, int) and not isinstance(eval_steps, bool) and eval_steps >= 1):
        got = "is not set" if eval_steps is None else f"is {eval_steps!r}, not a whole number of steps"
        return [Problem(
            f"custom.detection_eval is enabled without custom.detection_eval.every_steps, and training.eval_steps "
            f"{got}: set custom.detection_eval.every_steps (an optimizer-step interval).",
            key=f"{key}.every_steps", where=resolved.where(f"{key}.enabled"))]
    return []


def rejects_detection_eval(resolved: ResolvedConfig, mode: str, rlhf: bool, modes_with_it: str) -> list[Problem]:
    """Modes without it (gkd / grpo: their steps are ms-swift's RLHF loop, whose generation we do not hook)."""
    key = DETECTION_EVAL
    if resolved.get(f"{key}.enabled", None) is not True:
        return []
    why = "driven by ms-swift's RLHF trainer, whose generation loop we do not hook" if rlhf else "not hooked"
    return [Problem(
        f"detection metrics during training run in {modes_with_it} runs only: {mode} steps are {why}; set "
        "custom.detection_eval.enabled false and evaluate its checkpoints with `python -m src.eval RUN_DIR "
        "--checkpoint checkpoint-N`.", key=f"{key}.enabled", where=resolved.where(f"{key}.enabled"))]


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


def completion_fits(resolved: ResolvedConfig, g: int) -> tuple[int | None, str, list[Problem]]:
    """gkd / grpo: C, its description, and the problem when C does not fit inside G (then C is None)."""
    completion, source = completion_budget(resolved)
    if completion is None:
        return None, source, []
    if completion >= g:
        return None, source, [Problem(
            f"the completion budget ({source}) must be smaller than global_max_length {g} "
            f"({resolved.where('global_max_length')}), which bounds prompt + completion.",
            key="rlhf.max_completion_length", where=resolved.where("rlhf.max_completion_length"))]
    return completion, source, []


def rlhf_lengths(resolved: ResolvedConfig, g: int, *, prompt_only: bool) -> Lengths:
    """gkd / grpo: the completion budget C must fit inside G; ``template.max_length`` is G when prompt and
    response are encoded together, G - C when only the prompt is (``prompt_only``); vLLM holds G."""
    completion, source, problems = completion_fits(resolved, g)
    if completion is None:
        return Lengths({}, problems)
    implied = {"model.max_model_len": g, "template.max_length": g - completion if prompt_only else g}
    if resolved.get("rlhf.use_vllm", False) is True:
        implied["rlhf.vllm_max_model_len"] = g
    return Lengths(implied, [], note=f" (GRPO prompt budget = {g} - {source})" if prompt_only else "")
