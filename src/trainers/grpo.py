"""GRPO through ms-swift's `GRPOTrainer`, with the launcher's rows and reward functions.

Rollouts: HF generation when `rlhf.use_vllm` is false (CPU smoke runs), vLLM colocate or server
otherwise (server mode is validated at launch, before this module is reached: `src/config/server_mode.py`).
`rlhf.reward_funcs` names reward functions in ms-swift's registry (`swift.rewards.orms`); the
project's own (dense_format, dense_parse, dense_loc_fbeta, dense_cat_f1, summary_format,
summary_content) are registered by `src.rewards.register_rewards()`. They read the ground-truth
columns of each row (`src/datasets/rl_rows.py`) as keyword arguments. Every run logs rollout health
(`rollout/parse_rate`, `rollout/truncated_rate`, ...: `src/trainers/grpo_health.py`).
"""

from __future__ import annotations

import importlib
from typing import Any

from src.config import ConfigError, Problem, TrainingConfig

from .recipe import Recipe

REWARDS_MODULE = "src.rewards"


def register_project_rewards() -> bool:
    """Register the project's reward functions with ms-swift; False when `src.rewards` is absent."""
    try:
        module = importlib.import_module(REWARDS_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != REWARDS_MODULE:
            raise
        return False
    module.register_rewards()
    return True


def check_reward_funcs(cfg: TrainingConfig, registry: dict[str, Any]) -> None:
    """Every name in rlhf.reward_funcs resolves in `registry`; else a ConfigError naming the key."""
    names = cfg.rlhf.get("reward_funcs") or []
    missing = [n for n in names if n not in registry]
    if missing:
        key = "rlhf.reward_funcs"
        raise ConfigError([Problem(
            f"unknown reward function(s) {missing}; registered: {sorted(registry)}.", key=key,
            where=cfg.source.where(key))], subject=cfg.source.display)


def rows(cfg: TrainingConfig, template: Any) -> tuple[Any, Any]:
    from src.datasets.rl_rows import build_rl_datasets

    return build_rl_datasets(cfg, template, with_response=False)


def extensions(cfg: TrainingConfig) -> list[Any]:
    from .grpo_health import install_rollout_health

    return [install_rollout_health]


def check_rewards(cfg: TrainingConfig) -> None:
    from swift.rewards import orms

    register_project_rewards()
    check_reward_funcs(cfg, orms)


RECIPE = Recipe(rows, extensions, prepare=check_rewards)
