"""`sft`: no rlhf_type, no trainer variant (recipe: src/trainers/sft.py)."""

from __future__ import annotations

from ..resolve import ResolvedConfig
from .spec import Lengths, ModeSpec


def lengths(resolved: ResolvedConfig, g: int) -> Lengths:
    """Whole conversations are encoded: every sample fits G."""
    return Lengths({"model.max_model_len": g, "template.max_length": g}, [])


SPEC = ModeSpec("sft", "sft", rules=lambda resolved: [], lengths=lengths, default=True,
                telemetry_loss="cross_entropy", detection_eval=True, conversation_dump=True, chat_members=True)
