"""global_max_length: proxies into every ms-swift length field; conflicts are errors."""

from __future__ import annotations

import pytest

from src.config import ConfigError, load_training_config
from src.config.paths import REPO_ROOT

GRPO = "configs/train/grpo/dense_2048.yaml"  # max_completion_length 4096, use_vllm, colocate


def _origin(cfg, key) -> str:
    return str(cfg.source.origins[key])


def test_grpo_preset_with_4096(write):
    path = write("g.yaml", f"""
        extends: {REPO_ROOT / GRPO}
        global_max_length: 4096
        rlhf:
          max_completion_length: 1024
    """)
    cfg = load_training_config(path)
    assert cfg.mode == "grpo" and cfg.global_max_length == 4096
    assert cfg.template["max_length"] == 3072          # prompt = G - completion
    assert cfg.rlhf["vllm_max_model_len"] == 4096      # prompt + completion
    assert cfg.model["max_model_len"] == 4096
    for key in ("template.max_length", "rlhf.vllm_max_model_len", "model.max_model_len"):
        assert _origin(cfg, key) == "proxy:global_max_length"
    assert cfg.resolved["template"]["max_length"] == 3072


def test_grpo_conflicting_template_max_length_is_rejected(write):
    path = write("g.yaml", f"""
        extends: {REPO_ROOT / GRPO}
        global_max_length: 4096
        rlhf:
          max_completion_length: 1024
        template:
          max_length: 4096
    """)
    with pytest.raises(ConfigError) as info:
        load_training_config(path)
    text = str(info.value)
    assert f"template.max_length ({path}:6): conflicts with global_max_length: written 4096" in text
    assert f"global_max_length 4096 ({path}:2) implies template.max_length = 3072 for a grpo run" in text
    assert "4096 - rlhf.max_completion_length 1024" in text


def test_explicit_value_equal_to_the_proxy_is_accepted(write):
    path = write("g.yaml", f"""
        extends: {REPO_ROOT / GRPO}
        global_max_length: 8192
        template:
          max_length: 4096
    """)
    cfg = load_training_config(path)
    assert cfg.template["max_length"] == 4096
    assert _origin(cfg, "template.max_length").endswith("g.yaml:4")


def test_conflicting_vllm_length_is_rejected(write):
    path = write("g.yaml", f"extends: {REPO_ROOT / GRPO}\nrlhf:\n  vllm_max_model_len: 9999\n")
    with pytest.raises(ConfigError, match=r"implies rlhf.vllm_max_model_len = 12288"):
        load_training_config(path)


def test_completion_budget_must_fit(write):
    path = write("g.yaml", f"extends: {REPO_ROOT / GRPO}\nglobal_max_length: 4096\n")
    with pytest.raises(ConfigError, match=r"must be smaller than global_max_length 4096"):
        load_training_config(path)


def test_grpo_default_completion_budget_is_ms_swift_default(preset):
    cfg = load_training_config(preset("rlhf: {rlhf_type: grpo, reward_funcs: [dense_format]}\n"
                                      "custom: {telemetry: {per_dataset: false, per_token_type: false}}"))
    assert cfg.template["max_length"] == 1024 - 512
    assert "vllm_max_model_len" not in cfg.rlhf  # use_vllm is false


def test_sft_gkd_stage2_proxies():
    sft = load_training_config("configs/smoke/sft_dense_tiny.yaml")
    assert (sft.template["max_length"], sft.model["max_model_len"]) == (1024, 1024)
    gkd = load_training_config("configs/train/sft/dense_1024_gkd.yaml")
    assert gkd.mode == "gkd" and gkd.template["max_length"] == 12000  # GKD encodes whole samples
    stage2 = load_training_config("configs/train/stage2_ab/ab_mixed.yaml")
    assert stage2.template["max_length"] == 12000
    assert stage2.rollout_matching is not None and stage2.rollout_matching.vllm is not None
    assert stage2.rollout_matching.vllm.max_model_len == 12000
    assert _origin(stage2, "rollout_matching.vllm.max_model_len") == "proxy:global_max_length"


def test_sft_conflicting_model_length(preset):
    with pytest.raises(ConfigError, match=r"implies model.max_model_len = 1024 for a sft run"):
        load_training_config(preset("model: {max_model_len: 2048}"))


def test_global_max_length_must_be_a_positive_int(preset):
    with pytest.raises(ConfigError, match="must be a positive integer"):
        load_training_config(preset("global_max_length: 1024.5"))
