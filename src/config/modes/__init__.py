"""Training modes: how a config's mode is detected, and what each mode adds to the shared config rules.

Modes: `sft` (no rlhf_type), `gkd` (rlhf.rlhf_type gkd), `grpo` (rlhf.rlhf_type grpo),
`stage2_ab` (custom.trainer_variant stage2_ab_training, no rlhf_type). Each has a module here with its
cross-field rules and its `global_max_length` proxies (a `ModeRules`), registered in `RULES`; the recipe
that runs it is `src/trainers/<mode>.py` (docs/architecture.md, "Adding a mode").
"""

from __future__ import annotations

from typing import Literal

from ..errors import Problem
from ..resolve import ResolvedConfig
from . import gkd, grpo, sft, stage2_ab
from .common import STAGE2_SECTIONS
from .rules import Lengths, ModeRules

Mode = Literal["sft", "gkd", "grpo", "stage2_ab"]
MODES: tuple[Mode, ...] = ("sft", "gkd", "grpo", "stage2_ab")
RL_MODES: tuple[Mode, ...] = ("gkd", "grpo")
RULES: dict[str, ModeRules] = {m.RULES.name: m.RULES for m in (sft, gkd, grpo, stage2_ab)}


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


def mode_problems(mode: Mode, resolved: ResolvedConfig) -> list[Problem]:
    """Cross-field rules of `mode` on the resolved (not yet proxied) data."""
    return RULES[mode].rules(resolved)


__all__ = ["MODES", "RL_MODES", "RULES", "STAGE2_SECTIONS", "Lengths", "Mode", "ModeRules", "detect_mode",
           "mode_problems"]
