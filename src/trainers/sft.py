"""The SFT recipe: the launcher's fusion datasets, encoded lazily by ms-swift's template, on ms-swift's
Seq2SeqTrainer (telemetry and `custom.detection_eval` mixins in front when configured)."""

from __future__ import annotations

from functools import partial
from typing import Any

from src.config import TrainingConfig


def run_sft(cfg: TrainingConfig, session: Any = None) -> dict[str, Any]:
    from src.boundary.arguments import swift_arguments
    from src.datasets.builder import build_training_datasets

    from .detection_eval import trainer_extensions
    from .swift_pipeline import LauncherSft

    args = swift_arguments(cfg)  # ms-swift's rejections become ConfigError (exit 2) before weights load
    return LauncherSft(args, build_datasets=partial(build_training_datasets, cfg), session=session,
                       telemetry=cfg.custom.telemetry, trainer_extensions=trainer_extensions(cfg),
                       template_fingerprint=cfg.custom.template_fingerprint, save_schedule=cfg.schedule,
                       conversation_dump=cfg.conversation_dump_path).main()
