"""`gkd`: rlhf.rlhf_type gkd, optionally custom.gkd_monitor (recipe: src/trainers/gkd.py)."""

from __future__ import annotations

from ..errors import Problem
from ..resolve import ResolvedConfig
from ..value_rules import ValueRule, at_least, must_be_false, within
from .common import RLHF_VALUE_RULES, rlhf_generation_rules, rlhf_lengths
from .spec import Lengths, ModeSpec, need


def rules(resolved: ResolvedConfig) -> list[Problem]:
    return (need(resolved, "gkd", "rlhf.teacher_model", "the teacher to distill from (a local model directory)")
            + rlhf_generation_rules(resolved))


def lengths(resolved: ResolvedConfig, g: int) -> Lengths:
    """Prompt + response (dataset or generated) are encoded together: G."""
    return rlhf_lengths(resolved, g, prompt_only=False)


VALUE_RULES = (
    *RLHF_VALUE_RULES,
    ValueRule("rlhf.beta", "in [0, 1] (GKD: the generalized-JSD interpolation)", within(0, 1)),
    ValueRule("rlhf.lmbda", "in [0, 1] (GKD: the on-policy fraction)", within(0, 1)),
    ValueRule("rlhf.seq_kd", "false (ms-swift 4.6 removed sequence-level KD)",
              must_be_false("ms-swift 4.6 removed sequence-level KD (teacher generation); it raises "
                            "NotImplementedError. Use rlhf.lmbda for on-policy student rollouts.")),
    ValueRule("rlhf.sft_alpha", ">= 0", at_least(0)),
)

SPEC = ModeSpec("gkd", "rlhf", rules, lengths, rlhf_type="gkd", telemetry_loss="jsd", server_roles=("rlhf",),
                own_keys=("custom.gkd_monitor", *(f"rlhf.{k}" for k in ("teacher_", "lmbda", "seq_kd", "sft_alpha",
                                                                         "offload_teacher_model"))),
                value_rules=VALUE_RULES)
