"""Adding a mode is its spec module, its recipe module and a preset (docs/architecture.md, "Adding a mode").

A toy mode, written into temporary modules that the two packages find the way they find every mode, is
selected, validated by its declared capabilities, shown by inspect, and dispatched to its recipe and
ms-swift's SFT arguments, without an edit anywhere else. The run stops where ms-swift would load the model.
"""

from __future__ import annotations

import sys
import textwrap

import pytest

import src.config.modes as config_modes
from src import trainers
from src.config import REPO_ROOT, ConfigError, load_training_config
from src.config.modes import mode_origin, spec_of

SPEC_MODULE = '''
"""toy: whole conversations on ms-swift's SFT arguments, without detection eval or conversation dumps."""
from .sft import lengths
from .spec import ModeSpec

SPEC = ModeSpec("toy", "sft", rules=lambda resolved: [], lengths=lengths, trainer_variant="toy_training",
                telemetry_loss="cross_entropy")
'''
RECIPE_MODULE = '''
from src.trainers.recipe import Recipe
from src.trainers.sft import rows

PREPARED = []
RECIPE = Recipe(rows, prepare=PREPARED.append)
'''


class StopBeforeModel(Exception):
    pass


@pytest.fixture
def toy(tmp_path, monkeypatch):
    for package, source in ((config_modes, SPEC_MODULE), (trainers, RECIPE_MODULE)):
        folder = tmp_path / package.__name__
        folder.mkdir()
        (folder / "toy.py").write_text(textwrap.dedent(source))
        monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])
    config_modes.specs.cache_clear()
    preset = tmp_path / "toy.yaml"
    preset.write_text(f"extends: {REPO_ROOT}/configs/smoke/sft_dense_tiny.yaml\n"
                      f"mode: toy\ntraining:\n  output_dir: {tmp_path}/run\n  logging_dir: {tmp_path}/run/tb\n")
    yield preset
    config_modes.specs.cache_clear()
    for name in ("src.config.modes.toy", "src.trainers.toy"):
        sys.modules.pop(name, None)


def test_validation_selects_the_toy_mode_and_reads_its_capabilities(toy):
    cfg = load_training_config(toy)
    assert cfg.mode == "toy" and cfg.spec is spec_of("toy") and not cfg.is_rlhf
    assert cfg.template["max_length"] == cfg.global_max_length  # its declared length proxies
    assert mode_origin(cfg.source) == f"toy (mode at {toy}:2)"
    assert load_training_config(toy, ["mode=null", "custom.trainer_variant=toy_training"]).mode == "toy"
    with pytest.raises(ConfigError, match="is only written by sft runs"):  # no conversation_dump capability
        load_training_config(toy, ["custom.dump_conversation_text=true"])
    with pytest.raises(ConfigError, match="detection metrics during training run in sft and stage2_ab runs only"):
        load_training_config(toy, ["custom.detection_eval.enabled=true", "custom.detection_eval.every_steps=1"])


def test_dispatch_runs_the_toy_recipe_on_sft_arguments_up_to_the_model(toy, monkeypatch):
    from swift import SftArguments

    from src.trainers.dispatch import recipe_for, run_training
    from src.trainers.swift_pipeline import LauncherPipeline

    cfg = load_training_config(toy)
    recipe = recipe_for(cfg)
    assert recipe is sys.modules["src.trainers.toy"].RECIPE
    reached = []

    def stop(pipeline):
        reached.append((type(pipeline.args), pipeline._recipe))
        raise StopBeforeModel

    monkeypatch.setattr(LauncherPipeline, "_prepare_model_tokenizer", stop)
    with pytest.raises(StopBeforeModel):
        run_training(cfg)
    assert recipe.prepare.__self__ == [cfg]  # its check ran before the arguments were built
    assert reached == [(SftArguments, recipe)]
