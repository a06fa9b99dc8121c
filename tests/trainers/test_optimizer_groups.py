"""vit_lr / aligner_lr / freeze_vit reach the optimizer ms-swift's real trainer builds.

The launcher passes these through `build_swift_kwargs` to ms-swift, whose `multimodal` optimizer
callback splits the parameters by the model architecture's prefixes (vision tower `model.visual`,
aligner `model.visual.merger` + `model.visual.deepstack_merger_list`). A typo in a key, a
dropped field or a changed prefix would silently train every part at one rate: this test reads
the parameter groups of the optimizer the trainer actually creates on the tiny model.
"""

from __future__ import annotations

import pytest

ALIGNER = ("model.visual.merger.", "model.visual.deepstack_merger_list.")


def _part(name: str) -> str:
    if name.startswith(ALIGNER):
        return "aligner"
    return "vit" if name.startswith("model.visual.") else "llm"


def _optimizer_groups(repo_root, tmp_path, overrides: list[str]) -> tuple[dict[str, set[float]], set[str]]:
    """{part: learning rates its trainable parameters got}, names of frozen parameters."""
    from src.config import load_training_config
    from src.trainers.sft import RECIPE
    from src.trainers.swift_pipeline import LauncherPipeline

    cfg = load_training_config(
        repo_root / "configs/smoke/sft_dense_tiny.yaml",
        [f"training.output_dir={tmp_path}/run", f"training.logging_dir={tmp_path}/run/tb", *overrides],
    )
    seen: dict[str, set[float]] = {}
    frozen: set[str] = set()

    class Probe(LauncherPipeline):
        def train(self, trainer):  # the trainer is fully built here; take its optimizer, do not train
            optimizer = trainer.create_optimizer()
            lr_of = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
            for name, p in trainer.model.named_parameters():
                if not p.requires_grad:
                    frozen.add(name)
                    assert id(p) not in lr_of, f"frozen {name} is in the optimizer"
                else:
                    seen.setdefault(_part(name), set()).add(lr_of[id(p)])
            return {}

    Probe(cfg, RECIPE).main()
    return seen, frozen


@pytest.mark.slow  # about 25 s on 2 busy cores: two model loads through ms-swift
def test_part_learning_rates_and_freeze_vit_reach_the_optimizer(repo_root, tmp_path, tiny_model_dir, synthetic_data_dir):
    seen, frozen = _optimizer_groups(repo_root, tmp_path / "a", [
        "training.learning_rate=1.0e-3", "training.vit_lr=2.0e-4", "training.aligner_lr=3.0e-4",
        "tuner.freeze_vit=false", "tuner.freeze_aligner=false"])
    assert seen == {"llm": {1.0e-3}, "vit": {2.0e-4}, "aligner": {3.0e-4}}
    assert not frozen

    seen, frozen = _optimizer_groups(repo_root, tmp_path / "b", [
        "training.vit_lr=0.0", "training.aligner_lr=3.0e-4", "tuner.freeze_vit=true", "tuner.freeze_aligner=false"])
    assert seen == {"llm": {1.0e-3}, "aligner": {3.0e-4}}  # the vision tower has no group at all
    assert frozen and all(_part(n) == "vit" for n in frozen)
    assert "model.visual.patch_embed.proj.weight" in frozen
