"""gkd_monitor arithmetic and wiring (no training here; see test_gkd_smoke.py for a real run)."""

from __future__ import annotations

import math

import pytest
import torch

from src.config import load_training_config
from src.trainers.dispatch import recipe_for


def _logits(rows: list[int], vocab: int = 8) -> torch.Tensor:
    """[1, T, V] logits whose argmax at position t is rows[t] (logit 2 vs 0 elsewhere)."""
    out = torch.zeros(1, len(rows), vocab)
    for t, k in enumerate(rows):
        out[0, t, k] = 2.0
    return out


def test_completion_stats_on_shifted_supervised_tokens():
    from src.trainers.gkd import completion_stats

    labels = torch.tensor([[-100, -100, 5, 6, -100]])  # tokens 5, 6 predicted at positions 1, 2
    student = _logits([0, 5, 7, 0, 0])  # right at 1, wrong at 2
    teacher = _logits([0, 5, 6, 0, 0])  # right at both
    stats = completion_stats(student, labels, teacher, labels.clone())
    assert stats["token_acc"] == 0.5 and stats["teacher_token_acc"] == 1.0
    assert stats["teacher_agreement"] == 0.5
    p_hit, p_miss = math.exp(2) / (math.exp(2) + 7), 1 / (math.exp(2) + 7)
    assert stats["sft_loss"] == pytest.approx(-(math.log(p_hit) + math.log(p_miss)) / 2, rel=1e-5)
    assert completion_stats(student, torch.full_like(labels, -100)) == {}
    # A teacher scoring other positions (OPSD) is not compared.
    assert "teacher_token_acc" not in completion_stats(student, labels, teacher, torch.tensor([[-100, 5, 6, -100, -100]]))


def test_monitor_variant_is_installed_on_ms_swifts_gkd_trainer():
    from swift.rlhf_trainers import GKDTrainer

    from src.trainers.gkd import GKDMonitorTrainer, gkd_trainer_extensions, install_gkd_monitor

    monitor = load_training_config("configs/smoke/gkd_tiny.yaml")
    plain = load_training_config("configs/smoke/gkd_tiny.yaml", ["custom.gkd_monitor=false"])
    assert gkd_trainer_extensions(monitor) == [install_gkd_monitor] and gkd_trainer_extensions(plain) == []

    trainer = object.__new__(GKDTrainer)  # the class ms-swift's TrainerFactory builds for gkd
    assert install_gkd_monitor(trainer) is trainer and type(trainer) is GKDMonitorTrainer
    with pytest.raises(RuntimeError, match="already installed"):
        install_gkd_monitor(trainer)


def test_dispatch_finds_the_gkd_recipe_with_its_monitor_and_telemetry():
    from src.trainers import gkd
    from src.trainers.gkd_telemetry import install_gkd_telemetry
    from src.trainers.recipe import pipeline_class
    from src.trainers.rlhf_pipeline import RLHFPipeline

    cfg = load_training_config("configs/smoke/gkd_tiny.yaml")
    recipe = recipe_for(cfg)
    assert recipe is gkd.RECIPE and recipe.telemetry_installer is install_gkd_telemetry
    assert pipeline_class(cfg) is RLHFPipeline
