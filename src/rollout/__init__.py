"""Rollouts: the one interface every rollout backend implements (base.py), every rank failing
together (ranks.py), and the two backends: `hf` (generate on the training model: stage2_ab Channel B
on CPU, in-training detection eval) and `vllm` (a `swift rollout` server, `server/`, which also
serves GRPO and GKD server mode)."""

from .base import RolloutBackend, RolloutError, RolloutRequest, RolloutResult

__all__ = ["RolloutBackend", "RolloutError", "RolloutRequest", "RolloutResult"]
