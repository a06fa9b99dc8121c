"""`build_swift_kwargs`: the one mapping to ms-swift arguments. The last test constructs real
ms-swift argument objects (the only config tests that import swift, besides the contract test)."""

from __future__ import annotations

import os

import pytest

from src.config import load_training_config
from src.config.paths import REPO_ROOT
from src.config.swift_args import build_swift_kwargs


def test_sections_flatten_and_paths_become_absolute():
    cfg = load_training_config("configs/train/sft/dense_1024_gkd.yaml")
    kwargs = build_swift_kwargs(cfg)
    assert kwargs["model"] == str(REPO_ROOT / "models/Qwen3-VL-4B-Instruct")
    assert kwargs["teacher_model"] == str(REPO_ROOT / "models/Qwen3-VL-8B-Instruct")
    assert kwargs["teacher_model_type"] == "qwen3_vl"
    assert kwargs["logging_dir"] == str(REPO_ROOT / "tb/sft/dense_1024_gkd")
    assert kwargs["deepspeed"] == "zero2" and "config" not in kwargs
    assert kwargs["model_type"] == "qwen3_vl" and kwargs["check_model"] is False
    assert kwargs["rlhf_type"] == "gkd" and kwargs["max_length"] == 12000
    assert kwargs["dataset"] == [
        str(REPO_ROOT / p) for p in (
            "data/bbu_dense_1024/train.jsonl", "data/rru_dense_1024/train.jsonl",
            "data/lvis_dense_1024/train.jsonl",
        )
    ]
    assert kwargs["val_dataset"] == [
        str(REPO_ROOT / "data/bbu_dense_1024/val.jsonl"), str(REPO_ROOT / "data/rru_dense_1024/val.jsonl"),
    ]
    for custom_key in ("fusion_config", "augmentation", "trainer_variant", "global_max_length"):
        assert custom_key not in kwargs


def test_server_mode_leaves_vllm_length_to_the_server():
    cfg = load_training_config("configs/train/grpo/summary_server.yaml")
    assert cfg.rlhf["vllm_max_model_len"] == 4096          # in the resolved config, for the launcher
    kwargs = build_swift_kwargs(cfg)
    assert "vllm_max_model_len" not in kwargs
    assert kwargs["vllm_server_host"] == ["127.0.0.1"] and kwargs["max_length"] == 3072


def test_deepspeed_json_path_is_absolute(preset, tmp_path):
    ds = tmp_path / "zero3.json"  # the value rules require an existing file
    ds.write_text("{}", encoding="utf-8")
    relative = os.path.relpath(ds, REPO_ROOT)  # written repo-relative, as presets do
    cfg = load_training_config(preset(f"deepspeed: {{config: {relative}}}"))
    assert build_swift_kwargs(cfg)["deepspeed"] == str((REPO_ROOT / relative).resolve())


def _tiny_model_dir(tmp_path):
    """A Qwen3-VL config.json is all that argument construction reads."""
    import transformers

    config = transformers.Qwen3VLConfig(
        text_config={"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16},
        vision_config={"depth": 2, "hidden_size": 64, "intermediate_size": 128, "num_heads": 4,
                       "out_hidden_size": 64, "patch_size": 16, "spatial_merge_size": 2,
                       "deepstack_visual_indexes": []},
    )
    config.save_pretrained(tmp_path / "model")
    return tmp_path / "model"


@pytest.mark.parametrize(
    ("preset_name", "cls_name"),
    [("sft_dense_tiny", "SftArguments"), ("grpo_dense_tiny", "RLHFArguments"),
     ("gkd_tiny", "RLHFArguments"), ("stage2_ab_tiny", "SftArguments")],
)
def test_ms_swift_accepts_the_smoke_kwargs(tmp_path, preset_name, cls_name):
    import swift

    model = REPO_ROOT / "artifacts/tiny-qwen3-vl"
    model = model if (model / "config.json").is_file() else _tiny_model_dir(tmp_path)
    overrides = [f"model.model={model}", f"training.output_dir={tmp_path}/out",
                 f"training.logging_dir={tmp_path}/tb"]
    if preset_name == "gkd_tiny":
        overrides.append(f"rlhf.teacher_model={model}")
    cfg = load_training_config(f"configs/smoke/{preset_name}.yaml", overrides)
    assert cfg.is_rlhf == (cls_name == "RLHFArguments")
    args = getattr(swift, cls_name)(**build_swift_kwargs(cfg))
    assert args.max_length == cfg.template["max_length"]
    assert args.output_dir == f"{tmp_path}/out"
    assert args.model_type == "qwen3_vl"
