"""The configs/ tree: everything validates; runnable presets are shallow and complete."""

from __future__ import annotations

import pytest

from src.config import is_fusion_config, is_runnable_preset, load_fusion_config, load_training_config
from src.config.paths import REPO_ROOT
from src.config.resolve import resolve_config

CONFIGS = sorted((REPO_ROOT / "configs").rglob("*.yaml"))
TRAINING = [p for p in CONFIGS if not is_fusion_config(p)]
RUNNABLE = [p for p in TRAINING if is_runnable_preset(p)]


def _rel(path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def test_tree_has_the_documented_presets():
    names = {_rel(p) for p in CONFIGS}
    for required in (
        "configs/base.yaml", "configs/debug.yaml",
        "configs/train/sft/dense_1024.yaml", "configs/train/sft/dense_2048.yaml",
        "configs/train/sft/summary_1024.yaml", "configs/train/sft/dense_1024_gkd.yaml",
        "configs/train/grpo/dense_2048.yaml", "configs/train/grpo/summary_1024.yaml",
        "configs/train/grpo/summary_server.yaml", "configs/train/grpo/dense_2048_lowaug.yaml",
        "configs/train/stage2_ab/ab_mixed.yaml",
        "configs/smoke/sft_dense_tiny.yaml", "configs/smoke/gkd_tiny.yaml",
        "configs/smoke/grpo_dense_tiny.yaml", "configs/smoke/stage2_ab_tiny.yaml",
        "configs/fusion/variants/synthetic_tiny.yaml", "configs/fusion/variants/synthetic_fusion_tiny.yaml",
        # the seed catalogue (seeds 001/002)
        "configs/train/sft/summary_2048.yaml", "configs/train/grpo/summary_2048.yaml",
        "configs/train/stage_b/distill.yaml", "configs/fusion/stage_b_distill.yaml",
        "configs/smoke/sft_summary_tiny.yaml", "configs/train/grpo/dense_2048_lowaug_t04_low_lr.yaml",
        "configs/smoke/sft_chat_fusion_tiny.yaml",
    ):
        assert required in names
    assert not is_runnable_preset(REPO_ROOT / "configs/base.yaml")


@pytest.mark.parametrize("path", TRAINING, ids=_rel)
def test_training_config_validates(path):
    load_training_config(path)


@pytest.mark.parametrize("path", [p for p in CONFIGS if is_fusion_config(p)], ids=_rel)
def test_fusion_config_validates(path):
    assert load_fusion_config(path).targets


@pytest.mark.parametrize("path", RUNNABLE, ids=_rel)
def test_runnable_preset_resolves_from_at_most_4_files(path):
    chain = resolve_config(path).chain
    assert len(chain) <= 4, chain
    assert chain[0] == "configs/base.yaml"


def test_expected_modes():
    modes = {_rel(p): load_training_config(p).mode for p in RUNNABLE}
    assert modes["configs/train/sft/dense_1024_gkd.yaml"] == "gkd"
    assert modes["configs/train/grpo/summary_server.yaml"] == "grpo"
    assert modes["configs/train/stage2_ab/ab_mixed.yaml"] == "stage2_ab"
    assert modes["configs/debug.yaml"] == "sft"


def _leaves(data, prefix=""):
    out = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            out.update(_leaves(value, dotted))
        else:
            out[dotted] = value
    return out


RUN_IDENTITY = {"training.run_name", "training.output_dir", "training.logging_dir"}


@pytest.mark.parametrize(
    ("overlay", "parent", "allowed_prefixes"),
    [
        ("configs/train/sft/dense_1024_gkd.yaml", "configs/train/sft/dense_1024.yaml",
         ("rlhf.", "custom.gkd_monitor")),
        ("configs/train/grpo/summary_server.yaml", "configs/train/grpo/summary_1024.yaml",
         ("rlhf.vllm_", "rlhf.sleep_level")),
        ("configs/train/grpo/dense_2048_lowaug.yaml", "configs/train/grpo/dense_2048.yaml",
         ("custom.augmentation",)),
    ],
)
def test_overlays_extend_one_preset_and_change_only_their_keys(overlay, parent, allowed_prefixes):
    child, base = load_training_config(overlay), load_training_config(parent)
    assert child.chain[:-1] == base.chain
    left, right = _leaves(base.resolved), _leaves(child.resolved)
    changed = {k for k in set(left) | set(right) if left.get(k, "<absent>") != right.get(k, "<absent>")}
    unexpected = {k for k in changed - RUN_IDENTITY if not k.startswith(allowed_prefixes)}
    assert not unexpected, unexpected
    assert child.resolved["custom"]["fusion_config"] == base.resolved["custom"]["fusion_config"]


def test_smoke_preset_is_cpu_friendly():
    cfg = load_training_config("configs/smoke/sft_dense_tiny.yaml")
    assert cfg.training["bf16"] is False and cfg.training["fp16"] is False
    assert cfg.model["torch_dtype"] == "float32"
    assert cfg.training["dataloader_num_workers"] == 0 and cfg.training["logging_steps"] == 1
    assert cfg.training["max_steps"] == cfg.training["save_steps"]
    assert cfg.tuner["tuner_type"] in ("full", "lora")
    assert cfg.global_max_length <= 1024
    assert cfg.training["output_dir"].startswith("output/smoke/")
