"""GRPO rollout health: the `rollout/*` keys (src/stage2/rollout_health.py) in every GRPO log.

ms-swift's `GRPOTrainer` runs rollout -> rewards -> encoding -> advantages and then calls
`_log_rollout(samples)` with the rank's samples (`swift/rlhf_trainers/rollout_mixin.py`,
`_generate_and_score_completions`). Each sample (`swift.rl_core.data.OnPolicySample`) holds there
the completion (`messages[-1]["content"]`), its token ids (`response_token_ids`), why generation
stopped (`finish_reason`, "length" at the budget) and the row's ground-truth columns (`extra`:
`gt_objects`, `width`, `height`, `coord_format`, `assistant_prefix`, src/datasets/rl_rows.py).
:class:`RolloutHealthMixin` counts them there into a per-mode window (train / eval, as ms-swift's
own `_metrics`), and in `log` sums the window over ranks (one all-reduce on every rank at every log
call: ms-swift logs on every rank at the same points) and adds the rates, `eval_`-prefixed in
evaluation as ms-swift's own keys are. Rows without `gt_objects` (summary-only rows) are not counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from swift.rlhf_trainers import GRPOTrainer

from src.distributed import all_reduce
from src.rewards.swift_orm import completion_text
from src.stage2.rollout_health import RolloutHealth, completion_health, parse_completion

from .trainer_class import adopt, declare


def _token_count(ids: Any) -> int | None:
    """Tokens in ``response_token_ids`` (flat, or one list per turn); None when the engine gave none."""
    if not ids:
        return None
    return sum(len(turn) for turn in ids) if isinstance(ids[0], (list, tuple)) else len(ids)


def samples_health(samples: Iterable[Any], tokenize: Any) -> RolloutHealth:
    """Rollout health of ms-swift GRPO samples (``tokenize(text)`` counts tokens where the engine returned no ids)."""
    total = RolloutHealth()
    for s in samples:
        extra = s.extra
        if extra.get("gt_objects") is None:
            continue
        text = completion_text(s.messages[-1]["content"])
        prefix = extra.get("assistant_prefix")
        n_tokens = _token_count(s.response_token_ids)
        parse = parse_completion(text, extra["coord_format"], float(extra["width"]), float(extra["height"]), prefix)
        total += completion_health(parse, text, n_tokens=len(tokenize(text)) if n_tokens is None else n_tokens,
                                   finish_reason=s.finish_reason, n_gt=len(extra["gt_objects"]), prefix=prefix)
    return total


class RolloutHealthMixin:
    """Put before ms-swift's GRPO trainer in the MRO; needs ``self._rollout_health`` (:func:`install_rollout_health`)."""

    _rollout_health: dict[str, RolloutHealth]

    def _log_rollout(self, samples):
        mode = "train" if self.model.training else "eval"
        tokenizer = self.template.tokenizer
        health = samples_health(samples, lambda text: tokenizer.encode(text, add_special_tokens=False))
        self._rollout_health[mode] += health
        return super()._log_rollout(samples)

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        import torch

        mode = "train" if self.model.training else "eval"
        local = torch.tensor(self._rollout_health[mode].vector(), dtype=torch.float64, device=self.args.device)
        window = RolloutHealth.from_vector(all_reduce(local).cpu().tolist())  # every rank, every log
        self._rollout_health[mode] = RolloutHealth()
        if window.completions:
            prefix = "eval_" if mode == "eval" else ""
            logs.update({prefix + k: v for k, v in window.values().items()})
        return super().log(logs, *args, **kwargs)


@declare
class GRPOHealthTrainer(RolloutHealthMixin, GRPOTrainer):
    """ms-swift's GRPO trainer with rollout health logged (what :func:`install_rollout_health` makes of a plain one)."""


def install_rollout_health(trainer: Any) -> Any:
    """Turn a constructed ms-swift GRPO trainer into :class:`GRPOHealthTrainer` (an empty window per mode)."""
    if isinstance(trainer, RolloutHealthMixin):
        raise RuntimeError(f"rollout health is already installed on this {type(trainer).__name__}")  # noqa: TRY004
    adopt(trainer, RolloutHealthMixin)
    trainer._rollout_health = {"train": RolloutHealth(), "eval": RolloutHealth()}
    return trainer


__all__ = ["GRPOHealthTrainer", "RolloutHealthMixin", "install_rollout_health", "samples_health"]
