"""`load_training_config`: resolve + validate in one call (the entry point of `src.sft`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .paths import REPO_ROOT, locate_config_file
from .resolve import resolve_config
from .training_config import TrainingConfig
from .validate import validate_training_config

RUNNABLE_DIRS: tuple[str, ...] = ("configs/train", "configs/smoke")
RUNNABLE_FILES: tuple[str, ...] = ("configs/debug.yaml",)
NON_TRAINING_DIRS: tuple[str, ...] = ("configs/fusion",)


def is_runnable_preset(path: str | Path) -> bool:
    """A runnable preset must carry the required launch settings: files under configs/train and
    configs/smoke (also a nested tree's, e.g. configs/migrated/train), configs/debug.yaml, and any
    config outside configs/ (a user's experiment file). Other files under configs/ are layers only."""
    resolved = locate_config_file(path)
    try:
        rel = resolved.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return True
    if rel in RUNNABLE_FILES or any(rel.startswith(d + "/") for d in RUNNABLE_DIRS):
        return True
    # a migrated tree kept under configs/ (e.g. configs/migrated/train/...) has the same layout
    parts = rel.split("/")
    return not rel.startswith("configs/") or any(p in ("train", "smoke") for p in parts[2:-1])


def is_fusion_config(path: str | Path) -> bool:
    resolved = locate_config_file(path)
    try:
        rel = resolved.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return False
    return any(rel.startswith(d + "/") for d in NON_TRAINING_DIRS)


def load_training_config(
    path: str | Path, overrides: Iterable[str] = (), *, runnable: bool | None = None
) -> TrainingConfig:
    """Resolve `path` (extends chain, then `key=value` overrides) and validate it.

    `runnable` (default: `is_runnable_preset(path)`) enforces the required launch settings.
    Raises ConfigError whose str() lists every problem. Imports no torch/transformers/swift.
    """
    resolved = resolve_config(path, overrides)
    if runnable is None:
        runnable = is_runnable_preset(resolved.path)
    return validate_training_config(resolved, runnable=runnable)
