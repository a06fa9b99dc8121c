"""Training mode detection and the cross-field rules each mode imposes.

Modes: `sft` (no rlhf_type), `gkd` (rlhf.rlhf_type gkd), `grpo` (rlhf.rlhf_type grpo),
`stage2_ab` (custom.trainer_variant stage2_ab_training, no rlhf_type).
"""

from __future__ import annotations

from typing import Literal

from .errors import Problem
from .resolve import MISSING, ResolvedConfig
from .swift_fields import swift_field

Mode = Literal["sft", "gkd", "grpo", "stage2_ab"]
MODES: tuple[Mode, ...] = ("sft", "gkd", "grpo", "stage2_ab")
RL_MODES: tuple[Mode, ...] = ("gkd", "grpo")
STAGE2_SECTIONS = ("stage2_ab", "rollout_matching")


def detect_mode(resolved: ResolvedConfig) -> tuple[Mode | None, list[Problem]]:
    rlhf_type = resolved.get("rlhf.rlhf_type", None)
    variant = resolved.get("custom.trainer_variant", None)
    where_type, where_variant = resolved.where("rlhf.rlhf_type"), resolved.where("custom.trainer_variant")
    if rlhf_type is None:
        if variant == "stage2_ab_training":
            return "stage2_ab", []
        if variant == "gkd_monitor":
            return None, [Problem(
                "gkd_monitor wraps the GKD trainer: it needs rlhf.rlhf_type: gkd.",
                key="custom.trainer_variant", where=where_variant,
            )]
        return "sft", []
    if rlhf_type not in RL_MODES:
        return None, [Problem(
            f"rlhf_type {rlhf_type!r} is not supported by this launcher (supported: gkd, grpo; leave it "
            "unset for SFT and stage2_ab).",
            key="rlhf.rlhf_type", where=where_type,
        )]
    allowed = {"gkd": (None, "gkd_monitor"), "grpo": (None,)}[rlhf_type]
    if variant not in allowed:
        return None, [Problem(
            f"trainer_variant {variant!r} cannot run with rlhf.rlhf_type {rlhf_type!r} ({where_type}); "
            f"allowed: {', '.join(repr(v) for v in allowed)}.",
            key="custom.trainer_variant", where=where_variant,
        )]
    return rlhf_type, []


def _rlhf_keys(resolved: ResolvedConfig) -> list[str]:
    section = resolved.get("rlhf", None)
    return sorted(k for k, v in section.items() if not (k == "rlhf_type" and v is None)) if isinstance(
        section, dict) else []


def _detection_eval_problems(mode: Mode, resolved: ResolvedConfig) -> list[Problem]:
    key = "custom.detection_eval"
    if resolved.get(f"{key}.enabled", None) is not True:
        return []
    if mode in RL_MODES:
        return [Problem(
            f"detection metrics during training run in sft and stage2_ab runs only: {mode} steps are driven by "
            "ms-swift's RLHF trainer, whose generation loop we do not hook; set custom.detection_eval.enabled "
            "false and evaluate its checkpoints with `python -m src.eval RUN_DIR --checkpoint checkpoint-N`.",
            key=f"{key}.enabled", where=resolved.where(f"{key}.enabled"))]
    eval_steps = resolved.get("training.eval_steps", None)
    if resolved.get(f"{key}.every_steps", None) is None and not (
            isinstance(eval_steps, int) and not isinstance(eval_steps, bool) and eval_steps >= 1):
        got = "is not set" if eval_steps is None else f"is {eval_steps!r}, not a whole number of steps"
        return [Problem(
            f"custom.detection_eval is enabled without custom.detection_eval.every_steps, and training.eval_steps "
            f"{got}: set custom.detection_eval.every_steps (an optimizer-step interval).",
            key=f"{key}.every_steps", where=resolved.where(f"{key}.enabled"))]
    return []


def mode_problems(mode: Mode, resolved: ResolvedConfig) -> list[Problem]:
    """Cross-field rules of `mode` on the resolved (not yet proxied) data."""
    problems: list[Problem] = []

    def need(dotted: str, why: str) -> None:
        if resolved.get(dotted, None) in (None, MISSING, [], ""):
            parent = dotted.rpartition(".")[0]
            problems.append(Problem(f"required for {mode} runs: {why}", key=dotted, where=resolved.where(parent)))

    if mode in ("sft", "stage2_ab"):
        for key in _rlhf_keys(resolved):
            problems.append(Problem(
                f"rlhf settings have no effect in a {mode} run; remove them or set rlhf.rlhf_type "
                "(gkd | grpo).", key=f"rlhf.{key}", where=resolved.where(f"rlhf.{key}"),
            ))
    if mode != "stage2_ab":
        for section in STAGE2_SECTIONS:
            if resolved.get(section, None) is not None:
                problems.append(Problem(
                    f"only stage2_ab runs (custom.trainer_variant: stage2_ab_training) read this section; "
                    f"this is a {mode} run.", key=section, where=resolved.where(section),
                ))
    else:
        need("stage2_ab", "the channel schedule and channel-B settings (stage2_ab.schedule.b_ratio, ...)")
        need("rollout_matching", "the rollout backend, budget and matching settings")
    if mode == "gkd":
        need("rlhf.teacher_model", "the teacher to distill from (a local model directory)")
    if mode == "grpo":
        need("rlhf.reward_funcs", "the reward functions to optimize")
        generations = resolved.get("rlhf.num_generations", MISSING)
        if generations is MISSING:
            generations = swift_field("num_generations").default_for(rlhf=True)
        if isinstance(generations, int) and generations < 2:
            problems.append(Problem(
                "GRPO compares several completions per prompt: num_generations must be >= 2.",
                key="rlhf.num_generations", where=resolved.where("rlhf.num_generations"),
            ))
    problems += _detection_eval_problems(mode, resolved)
    if mode in RL_MODES:
        problems += _vllm_problems(resolved)
        for key in ("training.max_new_tokens",):
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
