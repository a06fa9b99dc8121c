"""Rollout backends for Channel B: `hf` (generate on the training model) and `vllm` (server)."""

from .base import RolloutBackend, RolloutError, RolloutRequest, RolloutResult

__all__ = ["RolloutBackend", "RolloutError", "RolloutRequest", "RolloutResult"]
