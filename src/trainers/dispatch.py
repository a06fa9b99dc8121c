"""From the typed config to its mode's recipe: `src/trainers/<mode>.py`'s `RECIPE`, run by `recipe.run`."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from src.config import TrainingConfig
from src.provenance import RunSession

from .recipe import Recipe, run

logger = logging.getLogger(__name__)


class ModeNotAvailable(RuntimeError):
    """The config asks for a training mode this build cannot run."""


def recipe_for(cfg: TrainingConfig) -> Recipe:
    """The recipe of the config's mode, from the module its name gives (`src.trainers.<mode>`)."""
    module_name = f"{__package__}.{cfg.mode}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        module = None
    recipe = getattr(module, "RECIPE", None)
    if not isinstance(recipe, Recipe):
        raise ModeNotAvailable(f"{cfg.source.display} asks for training mode {cfg.mode!r}, which this build cannot "
                               f"run yet: {module_name} declares no RECIPE.")
    return recipe


def run_training(cfg: TrainingConfig, session: RunSession | None = None) -> dict[str, Any]:
    recipe = recipe_for(cfg)
    logger.info("dispatching %s run of %s: model %s", cfg.mode, cfg.source.display, cfg.model.get("model"))
    return run(cfg, recipe, session)
