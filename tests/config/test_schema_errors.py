"""Strict schema: unknown keys, did-you-mean, migrations, duplicates, types, required settings."""

from __future__ import annotations

import subprocess
import sys

import pytest

from src.config import ConfigError, load_training_config
from src.config.paths import REPO_ROOT


def _error(path, overrides=(), **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        load_training_config(path, overrides, **kwargs)
    return str(info.value)


def test_misspelled_training_key(preset):
    path = preset("""
        training:
          learning_rat: 1e-4
    """)
    text = _error(path)
    assert f"training.learning_rat ({path}:3): unknown key." in text
    assert "Did you mean `learning_rate`?" in text


def test_cli_prints_error_without_traceback(preset):
    path = preset("""
        training:
          learning_rat: 1e-4
    """)
    proc = subprocess.run(
        [sys.executable, "-m", "src.config.tools", "validate", str(path)], cwd=REPO_ROOT, capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "training.learning_rat" in proc.stdout and "learning_rate" in proc.stdout
    assert f"{path}:3" in proc.stdout


def test_unknown_keys_under_stage2_sections(write):
    base = REPO_ROOT / "configs/smoke/stage2_ab_tiny.yaml"
    path = write("s2.yaml", f"""
        extends: {base}
        stage2_ab:
          channel_b:
            fp_nuetral: true
        rollout_matching:
          decoding:
            temprature: 0.5
    """)
    text = _error(path)
    assert f"stage2_ab.channel_b.fp_nuetral ({path}:4): unknown key. Did you mean `fp_neutral`?" in text
    assert f"rollout_matching.decoding.temprature ({path}:7): unknown key. Did you mean `temperature`?" in text


def test_unknown_top_level_section_and_unknown_op_parameter(preset):
    path = preset("""
        trainer: {x: 1}
        custom:
          augmentation:
            ops:
              - {name: rotate, prob: 0.5, max_degree: 3}
    """)
    text = _error(path)
    assert f"trainer ({path}:2): unknown key." in text
    assert "custom.augmentation.ops[0].max_degree" in text and "Did you mean `max_degrees`?" in text


@pytest.mark.parametrize(
    ("body", "key", "replacement"),
    [
        ("tuner: {train_type: lora}", "tuner.train_type", "tuner.tuner_type"),
        ("custom: {emit_norm: norm1000}", "custom.emit_norm", "custom.coord_format"),
        ("training: {max_length: 2048}", "training.max_length", "global_max_length"),
        ("training: {deepspeed: zero2}", "training.deepspeed", "deepspeed.config"),
        ("stage2_ab: {b_ratio: 0.5}", "stage2_ab.b_ratio", "stage2_ab.schedule.b_ratio"),
        ("training: {evaluation_strategy: steps}", "training.evaluation_strategy", "training.eval_strategy"),
    ],
)
def test_renamed_keys_get_migration_guidance(preset, body, key, replacement):
    text = _error(preset(body))
    assert f"`{key}` is no longer accepted. Migration: use `{replacement}` instead." in text


def test_valid_alias_in_the_migration_table_is_still_rejected(write):
    base = REPO_ROOT / "configs/smoke/grpo_dense_tiny.yaml"
    text = _error(write("g.yaml", f"extends: {base}\nrlhf:\n  max_new_tokens: 64\n"))
    assert "Migration: use `rlhf.max_completion_length` instead." in text


def test_key_in_the_wrong_section_names_its_section(preset):
    text = _error(preset("training: {max_pixels: 1000}"))
    assert "`max_pixels` is an ms-swift argument of the `template` section." in text


def test_two_sections_setting_one_swift_argument(write):
    base = REPO_ROOT / "configs/smoke/grpo_dense_tiny.yaml"
    path = write("dup.yaml", f"extends: {base}\ntraining:\n  temperature: 0.7\n")
    text = _error(path)
    assert f"training.temperature ({path}:3) and rlhf.temperature" in text
    assert "grpo_dense_tiny.yaml:" in text and "same ms-swift argument `temperature`" in text


def test_types_and_choices_of_swift_fields(preset):
    text = _error(preset("""
        training:
          eval_strategy: step
          save_strategy: no
          num_train_epochs: two
    """))
    assert "'step' is not one of ms-swift's choices: 'no', 'steps', 'epoch'. Did you mean 'steps'?" in text
    assert "quote it" in text
    assert "training.num_train_epochs" in text and "expected float" in text


def test_typed_section_type_errors(preset):
    text = _error(preset("""
        custom:
          coord_format: norm999
          augmentation: {bypass_prob: 1.5}
    """))
    assert "custom.coord_format" in text and "norm1000" in text
    assert "custom.augmentation.bypass_prob" in text


def test_required_launch_settings_in_runnable_presets(write):
    path = write("bare.yaml", f"extends: {REPO_ROOT / 'configs/base.yaml'}\n")
    text = _error(path)
    for key in ("model.model", "training.run_name", "training.output_dir", "training.logging_dir",
                "training.num_train_epochs", "training.learning_rate", "training.vit_lr",
                "training.aligner_lr", "global_max_length", "custom.fusion_config"):
        assert f"- {key} (" in text
    assert load_training_config(path, runnable=False).mode == "sft"


def test_every_problem_in_one_error(preset):
    text = _error(preset("""
        training: {learning_rat: 1, warmup_ratoi: 0.1}
        tuner: {train_type: lora}
    """))
    assert text.startswith("3 config problems in ")


@pytest.mark.parametrize(
    ("base", "body", "needle"),
    [
        ("sft_dense_tiny", "rlhf: {rlhf_type: gkd}", "rlhf.teacher_model"),
        ("sft_dense_tiny", "rlhf: {rlhf_type: dpo}", "not supported by this launcher"),
        ("sft_dense_tiny", "custom: {trainer_variant: gkd_monitor}", "write `custom.gkd_monitor: true`"),
        ("sft_dense_tiny", "custom: {gkd_monitor: true}", "applies only to gkd runs and has no effect in this sft"),
        ("sft_dense_tiny", "custom: {trainer_variant: stage2_ab_training}", "required for stage2_ab runs"),
        ("sft_dense_tiny", "mode: stage2_ab", "required for stage2_ab runs"),
        ("sft_dense_tiny", "mode: dpo", "unknown mode 'dpo'; one of: gkd, grpo, sft, stage2_ab"),
        ("sft_dense_tiny", "custom: {trainer_variant: stage2}", "'stage2' selects no mode (one of: stage2_ab_training)"),
        ("grpo_dense_tiny", "mode: sft", "exp.yaml:2) selects sft; rlhf.rlhf_type (configs/smoke/grpo_dense_tiny.yaml:47) selects grpo"),
        ("sft_dense_tiny", "rlhf: {beta: 0.1}", "rlhf settings have no effect in a sft run"),
        ("sft_dense_tiny", "rollout_matching: {max_new_tokens: 8}", "only stage2_ab runs"),
        ("grpo_dense_tiny", "rlhf: {num_generations: 1}", "num_generations must be >= 2"),
        ("grpo_dense_tiny", "rlhf: {use_vllm: true}", "needs vllm_mode"),
        ("grpo_dense_tiny", "data: {dataset: [x.jsonl]}", "datasets come from custom.fusion_config"),
        ("stage2_ab_tiny", "rollout_matching: {backend: vllm}", "needs a vllm block"),
        ("sft_dense_tiny", "custom: {use_summary: true}", "are mode dense; make the two agree"),
    ],
)
def test_mode_rules(write, base, body, needle):
    path = write("exp.yaml", f"extends: {REPO_ROOT / 'configs/smoke' / (base + '.yaml')}\n{body}\n")
    assert needle in _error(path)


def test_modes_of_the_smoke_presets():
    modes = {
        name: load_training_config(f"configs/smoke/{name}.yaml").mode
        for name in ("sft_dense_tiny", "gkd_tiny", "grpo_dense_tiny", "stage2_ab_tiny")
    }
    assert modes == {"sft_dense_tiny": "sft", "gkd_tiny": "gkd", "grpo_dense_tiny": "grpo",
                     "stage2_ab_tiny": "stage2_ab"}


@pytest.mark.parametrize("value,expected", [
    ("recorded", "recorded"),
    ("581830BE663A", "581830be663a"),  # a 12-digit prefix, case-insensitive
    ("5a" * 32, "5a" * 32),
    ("null", None),
])
def test_template_fingerprint_accepts_a_digest_or_recorded(value, expected):
    cfg = load_training_config(REPO_ROOT / "configs/smoke/sft_dense_tiny.yaml",
                               [f"custom.template_fingerprint={value}"])
    assert cfg.custom.template_fingerprint == expected


@pytest.mark.parametrize("value", ["abc123", "recorde", "g" * 64, "5a" * 32 + "5"])
def test_template_fingerprint_rejects_anything_else(value):
    text = _error(REPO_ROOT / "configs/smoke/sft_dense_tiny.yaml", [f"custom.template_fingerprint={value}"])
    assert "custom.template_fingerprint" in text
    assert "neither 'recorded' nor a sha256 hex digest" in text and "run_manifest.json" in text


def test_template_fingerprint_read_as_a_number_asks_for_quotes():
    text = _error(REPO_ROOT / "configs/smoke/sft_dense_tiny.yaml", ["custom.template_fingerprint=581830123456"])
    assert "custom.template_fingerprint" in text and "YAML read 581830123456 as int, not a string: quote the digest" in text


@pytest.mark.parametrize("key,hint", [("data.packing", "use template.padding_free: true"),
                                      ("data.streaming", "offset index")])
def test_dataset_switches_the_launcher_replaces_are_refused_not_ignored(key, hint):
    text = _error(REPO_ROOT / "configs/smoke/sft_dense_tiny.yaml", [f"{key}=true"])
    assert f"- {key} (override:{key}=true): not supported: " in text and hint in text


def test_dataset_switches_left_off_are_fine():
    cfg = load_training_config(REPO_ROOT / "configs/smoke/sft_dense_tiny.yaml", ["data.packing=false"])
    assert cfg.mode == "sft"


def test_augmentation_curriculum_errors_name_the_phase_key_and_line(preset):
    path = preset("""
        custom:
          augmentation:
            enabled: true
            ops:
              - {name: rotate, prob: 0.1, max_degrees: 5.0}
              - {name: roi_crop, prob: 0.0, anchor_classes: [BBU设备]}
          augmentation_curriculum:
            phases:
              - until_percent: 10
                ops:
                  rotate: {max_degrees: 400.0}
                  roi_crop: {anchor_classes: [1.0, 2.0]}
              - {until_percent: 50, bypass_prob: 0.1}
    """)
    text = _error(path)
    assert (f"custom.augmentation_curriculum.phases[0].ops.rotate.max_degrees ({path}:12): target of phase 0 is "
            "invalid: Input should be less than or equal to 180") in text
    assert f"custom.augmentation_curriculum.phases[0].ops.roi_crop.anchor_classes ({path}:13)" in text
    assert "`roi_crop.anchor_classes` cannot be ramped" in text


def test_seed_op_format_gets_migration_guidance(preset):
    path = preset("""
        custom:
          augmentation:
            ops:
              - {name: rotate, params: {max_deg: 5.0, prob: 0.1}}
              - {name: hflip, prob: 0.5, max_deg: 1}
          augmentation_curriculum:
            phases:
              - {until_progress: 0.5, bypass_prob: 0.1}
    """)
    text = _error(path)
    assert f"custom.augmentation.ops[0].params ({path}:5)" in text and "Ops are flat" in text
    assert "Migration: use `custom.augmentation.ops.max_degrees` instead" in text
    assert f"custom.augmentation_curriculum.phases[0].until_progress ({path}:9)" in text
    assert "Migration: use `custom.augmentation_curriculum.phases.until_percent` instead" in text
