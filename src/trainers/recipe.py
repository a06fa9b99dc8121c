"""A mode's recipe (what `src/trainers/<mode>.py` declares as `RECIPE`) and the one runner every mode goes through.

The config side of a mode is its `ModeSpec` (src/config/modes/<mode>.py): which ms-swift arguments and
pipeline it builds and what it can do (telemetry, detection eval, conversation dump). The recipe adds only
what the spec cannot say without torch: the rows, the trainer extensions, the telemetry installer, and a
check to make before ms-swift's arguments are built. `run` builds the rest the same way for every mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from src.config import TrainingConfig

# Applied to the trainer ms-swift constructed, before training: it adopts our class (src/trainers/trainer_class.py)
# (a mixin class + state, e.g. stage2_ab, gkd_monitor). The one way we customise ms-swift trainers.
TrainerExtension = Callable[[Any], Any]


def no_extensions(cfg: TrainingConfig) -> Sequence[TrainerExtension]:
    return ()


@dataclass(frozen=True)
class Recipe:
    """How a mode trains, besides what its spec declares."""

    datasets: Callable[[TrainingConfig, Any], tuple[Any, Any]]  # (cfg, template) -> (train, eval or None)
    extensions: Callable[[TrainingConfig], Sequence[TrainerExtension]] = no_extensions  # before telemetry
    telemetry_installer: Callable[..., Any] | None = None  # None: telemetry.install_telemetry (cross entropy)
    prepare: Callable[[TrainingConfig], None] | None = None  # checks before the arguments; ConfigError = exit 2


def pipeline_class(cfg: TrainingConfig) -> type:
    """The ms-swift pipeline the mode's arguments go with (`ModeSpec.arguments`)."""
    if cfg.is_rlhf:
        from .rlhf_pipeline import RLHFPipeline

        return RLHFPipeline
    from .swift_pipeline import LauncherPipeline

    return LauncherPipeline


def run(cfg: TrainingConfig, recipe: Recipe, session: Any = None) -> dict[str, Any]:
    """Train `cfg` with `recipe`: its checks, ms-swift's arguments (rejections become ConfigError before any
    weights load), then the pipeline: model, template, the recipe's datasets, trainer, extensions, training."""
    if recipe.prepare is not None:
        recipe.prepare(cfg)
    return pipeline_class(cfg)(cfg, recipe, session).main()
