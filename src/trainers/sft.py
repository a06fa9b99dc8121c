"""The SFT recipe: the launcher's fusion datasets, encoded lazily by ms-swift's template, on ms-swift's
Seq2SeqTrainer (telemetry and `custom.detection_eval` mixins in front when configured: its spec's
capabilities, src/config/modes/sft.py)."""

from __future__ import annotations

from typing import Any

from src.config import TrainingConfig

from .recipe import Recipe


def rows(cfg: TrainingConfig, template: Any) -> tuple[Any, Any]:
    from src.datasets.builder import build_training_datasets

    return build_training_datasets(cfg, template)


RECIPE = Recipe(rows)
