"""Telemetry needs per-token losses from the training loss pass: settings whose loss path has none.

Per-dataset / per-token-type telemetry (``custom.telemetry``) is summed from the per-token losses
the training loss is reduced from (src/trainers/telemetry/token_loss.py, src/trainers/gkd_telemetry.py);
it never recomputes the loss over the logits. A setting whose loss path produces no per-token
values, or shards them away from the batch's token ids, is a config error naming the conflict.
"""

from __future__ import annotations

from typing import Any

from .errors import Problem
from .resolve import MISSING, ResolvedConfig

OFF = "set custom.telemetry.per_dataset and custom.telemetry.per_token_type to false"

# key -> (is the setting on?, why telemetry cannot run with it, the losses it applies to: `ModeSpec.telemetry_loss`)
_ALL = ("cross_entropy", "jsd")
_CONFLICTS: dict[str, tuple[Any, str, tuple[str, ...]]] = {
    "training.use_liger_kernel": (
        lambda v: bool(v), "Liger's fused linear cross entropy never materialises logits or per-token losses", _ALL),
    "template.sequence_parallel_size": (
        lambda v: isinstance(v, int) and v > 1,
        "sequence parallelism shards each row's tokens across ranks, away from the batch's telemetry ids", _ALL),
    "tuner.tuner_backend": (
        lambda v: v == "unsloth", "unsloth's fused loss returns no per-token losses or usable logits", _ALL),
    "training.loss_type": (
        lambda v: v is not None, "a custom loss_type returns only the reduced loss, no per-token losses",
        ("cross_entropy",)),
    "training.label_smoothing_factor": (
        lambda v: isinstance(v, (int, float)) and v > 0,
        "the label smoother returns only the reduced loss, no per-token losses", ("cross_entropy",)),
    "rlhf.gkd_logits_topk": (
        lambda v: v is not None, "the top-k JSD path computes its per-token terms where they cannot be read",
        ("jsd",)),
    "rlhf.teacher_model_server": (
        lambda v: bool(v), ("a teacher server gives top-k log-probs; the top-k JSD path computes its per-token "
                            "terms where they cannot be read"), ("jsd",)),
}


def telemetry_problems(loss: str, resolved: ResolvedConfig, per_dataset: bool, per_token_type: bool) -> list[Problem]:
    """One problem per setting that leaves telemetry of the run's `loss` without per-token losses (none when
    telemetry is off)."""
    if not (per_dataset or per_token_type):
        return []
    where_on = (resolved.where("custom.telemetry") if resolved.get("custom.telemetry", None) is not None
                else "the default in this mode")
    problems = []
    for key, (is_on, why, losses) in _CONFLICTS.items():
        value = resolved.get(key, None)
        if loss not in losses or value is MISSING or not is_on(value):
            continue
        problems.append(Problem(
            f"{key}={value!r} conflicts with custom.telemetry (on, {where_on}): {why}, and telemetry sums "
            f"per-token losses of the training loss. Remove {key}, or {OFF}.",
            key=key, where=resolved.where(key)))
    return problems
