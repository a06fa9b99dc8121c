"""Launcher keys the seed system's presets rely on: effective_batch_size, save_delay_steps,
save_last_epoch, sample limits, fusion entry fields and chat-format members (schema level)."""

from __future__ import annotations

import pytest

from src.config import ConfigError, load_fusion_config, load_training_config
from src.config.schema_training import gradient_accumulation_steps
from src.config.swift_args import build_swift_kwargs


def _problems(exc: pytest.ExceptionInfo) -> str:
    return str(exc.value)


def test_launcher_training_keys_are_typed_and_kept_out_of_ms_swift(preset):
    cfg = load_training_config(preset("""
        training:
          gradient_accumulation_steps: null
          effective_batch_size: 8
          save_delay_steps: 100
          save_last_epoch: true
    """))
    assert (cfg.schedule.effective_batch_size, cfg.schedule.save_delay_steps, cfg.schedule.save_last_epoch) == (8, 100, True)
    assert not {"effective_batch_size", "save_delay_steps", "save_last_epoch"} & set(cfg.training)
    assert cfg.resolved["training"]["effective_batch_size"] == 8  # inspect / diff still see it
    kwargs = build_swift_kwargs(cfg, world_size=2)  # per-device 2 x 2 ranks x 2 steps = 8
    assert kwargs["gradient_accumulation_steps"] == 2
    assert not {"effective_batch_size", "save_delay_steps", "save_last_epoch"} & set(kwargs)
    with pytest.raises(ConfigError, match=r"not a multiple of per_device_train_batch_size \(2\) x world size \(3\)"):
        build_swift_kwargs(cfg, world_size=3)


@pytest.mark.parametrize(("ebs", "per_device", "world", "steps"), [(32, 1, 4, 8), (32, 2, 8, 2), (8, 8, 1, 1)])
def test_gradient_accumulation_is_exact(ebs, per_device, world, steps):
    assert gradient_accumulation_steps(ebs, per_device, world) == steps


@pytest.mark.parametrize(("ebs", "per_device", "world"), [(32, 3, 1), (24, 2, 8), (4, 8, 1)])
def test_gradient_accumulation_never_rounds(ebs, per_device, world):
    with pytest.raises(ConfigError, match="effective_batch_size"):
        gradient_accumulation_steps(ebs, per_device, world)


def test_effective_batch_size_conflicts_are_reported_with_file_and_line(preset):
    path = preset("""
        training:
          gradient_accumulation_steps: 4
          effective_batch_size: 9
          save_delay_steps: -1
    """)
    with pytest.raises(ConfigError) as exc:
        load_training_config(path)
    text = _problems(exc)
    assert "training.save_delay_steps (" in text and "exp.yaml:5)" in text
    with pytest.raises(ConfigError) as exc:
        load_training_config(preset("""
        training:
          gradient_accumulation_steps: 4
          effective_batch_size: 9
    """, name="b.yaml"))
    text = _problems(exc)
    assert "training.effective_batch_size (" in text and "b.yaml:4): conflicts with training.gradient_accumulation_steps" in text
    assert "9 is not a multiple of training.per_device_train_batch_size = 2" in text


def test_sample_limits_and_center_ordering(preset):
    cfg = load_training_config(preset("""
        custom:
          train_sample_limit: 10
          val_sample_limit: 4
          object_ordering: center_reading_order
    """))
    assert (cfg.custom.train_sample_limit, cfg.custom.val_sample_limit) == (10, 4)
    with pytest.raises(ConfigError, match="custom.val_sample_limit"):
        load_training_config(preset("custom:\n  val_sample_limit: 0\n", name="c.yaml"))


def test_fusion_entry_fields_and_chat_members(write):
    path = write("f.yaml", """
        targets:
          - name: t
            train_jsonl: a.jsonl
            curriculum: false
        sources:
          - name: lvis
            train_jsonl: b.jsonl
            max_objects_per_image: 20
          - name: talk
            dataset: chat
            train_jsonl: c.jsonl
            ratio: 0.1
    """)
    fusion = load_fusion_config(path)
    assert fusion.targets[0].curriculum is False and fusion.targets[0].augmentation is True
    assert fusion.sources[0].max_objects_per_image == 20
    chat = fusion.sources[1]
    assert chat.is_chat and chat.augmentation is False


@pytest.mark.parametrize(("entry", "message"), [
    ("    dataset: chat\n    augmentation: true\n", "text-only: set `augmentation: false`"),
    ("    dataset: chat\n    user_prompt: hi\n", "user_prompt do not apply"),
])
def test_chat_member_rejects_what_does_not_apply(write, entry, message):
    path = write("g.yaml", "targets:\n  - name: t\n    train_jsonl: a.jsonl\n" + entry)
    with pytest.raises(ConfigError, match=message) as exc:
        load_fusion_config(path)
    assert "g.yaml:" in str(exc.value)


def test_object_cap_is_for_sources_only(write):
    path = write("h.yaml", "targets:\n  - name: t\n    train_jsonl: a.jsonl\n    max_objects_per_image: 3\n")
    with pytest.raises(ConfigError, match="max_objects_per_image"):
        load_fusion_config(path)


def test_chat_members_fail_validation_outside_sft(write, repo_root):
    fusion = write("chat.yaml", """
        targets:
          - name: t
            train_jsonl: a.jsonl
        sources:
          - name: talk
            dataset: chat
            train_jsonl: c.jsonl
    """)
    path = write("grpo.yaml", f"extends: {repo_root}/configs/smoke/grpo_dense_tiny.yaml\n"
                              f"custom:\n  fusion_config: {fusion}\n")
    with pytest.raises(ConfigError, match=r"chat-format members \(talk\) train only in sft runs; this is a grpo run"):
        load_training_config(path)


def test_a_migrated_tree_under_configs_keeps_its_runnable_presets(repo_root):
    from src.config import is_runnable_preset

    assert is_runnable_preset(repo_root / "configs/migrated/train/sft/x.yaml")
    assert is_runnable_preset(repo_root / "configs/migrated/smoke/x.yaml")
    assert not is_runnable_preset(repo_root / "configs/migrated/base.yaml")
    assert not is_runnable_preset(repo_root / "configs/migrated/fusion/variants/x.yaml")
    assert not is_runnable_preset(repo_root / "configs/base.yaml")
