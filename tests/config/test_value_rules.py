"""Fast-path value rules and the ignored-setting rules, through the real launcher (`python -m src.sft`):
exit 2 before anything heavy loads, the key, its file:line, no traceback. Plus the contract that
the enums in src/config/swift_values.json are those of the installed ms-swift / transformers."""

from __future__ import annotations

import difflib
import subprocess
import sys
import time

import pytest

from src.config.paths import REPO_ROOT
from src.config.requirements import installed
from src.contracts.snapshot_swift_values import SNAPSHOT_PATH, build_snapshot, dumps

SMOKE = REPO_ROOT / "configs/smoke"


def launch(path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "src.sft", "--config", str(path), *overrides], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300, check=False)


def assert_config_error(proc: subprocess.CompletedProcess, key: str, where: str, *texts: str) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert f"{key} ({where})" in proc.stderr, proc.stderr[-3000:]
    for text in texts:
        assert text in proc.stderr, proc.stderr[-3000:]


# (preset, body: YAML written from line 2 on, key, line of the key, texts in the message)
CASES = [
    ("sft_dense_tiny", "tuner:\n  tuner_type: lorax\n", "tuner.tuner_type", 3, ["Did you mean 'lora'?"]),
    ("sft_dense_tiny", "training:\n  learning_rate: -1\n", "training.learning_rate", 3, ["must be > 0"]),
    ("sft_dense_tiny", "training:\n  warmup_ratio: 2\n", "training.warmup_ratio", 3, ["[0, 1)"]),
    ("sft_dense_tiny", "training:\n  per_device_train_batch_size: 0\n", "training.per_device_train_batch_size", 3,
     [">= 1"]),
    ("sft_dense_tiny", "training:\n  gradient_accumulation_steps: -2\n", "training.gradient_accumulation_steps", 3,
     [">= 1"]),
    ("sft_dense_tiny", "deepspeed:\n  config: zero4\n", "deepspeed.config", 3, ["Did you mean 'zero3'?"]),
    ("sft_dense_tiny", "deepspeed:\n  config: configs/no_such_ds.json\n", "deepspeed.config", 3, ["does not exist"]),
    ("sft_dense_tiny", "model:\n  attn_impl: flash\n", "model.attn_impl", 3, ["sdpa"]),
    ("sft_dense_tiny", "training:\n  report_to: [tensorbord]\n", "training.report_to", 3,
     ["Did you mean 'tensorboard'?"]),
    ("gkd_tiny", "rlhf:\n  seq_kd: true\n", "rlhf.seq_kd", 3, ["NotImplementedError"]),
    ("gkd_tiny", "rlhf:\n  beta: 3\n", "rlhf.beta", 3, ["[0, 1]"]),
    ("sft_dense_tiny", "template:\n  max_pixels: 10\n", "template.max_pixels", 3,
     ["below one patch group", "32x32 cells", "at least 1024"]),
    ("grpo_dense_tiny", "rlhf:\n  vllm_limit_mm_per_prompt: {mage: 1}\n", "rlhf.vllm_limit_mm_per_prompt", 3,
     ["image, video, audio", "Did you mean 'image'?"]),
    ("gkd_tiny", "rlhf:\n  lmbda: -0.1\n", "rlhf.lmbda", 3, ["[0, 1]"]),
    # ignored settings
    ("sft_dense_tiny", "tuner:\n  lora_rank: 16\n", "tuner.lora_rank", 3, ["has no effect with tuner_type 'full'"]),
    ("sft_dense_tiny", "tuner:\n  target_modules: [all-linear]\n", "tuner.target_modules", 3,
     ["adapter tuner"]),
    ("sft_dense_tiny", "tuner:\n  freeze_vit: true\n", "training.vit_lr", 28, ["tuner.freeze_vit is true"]),
    ("sft_dense_tiny", "training:\n  warmup_steps: 5\n  warmup_ratio: 0.1\n", "training.warmup_ratio", 4,
     ["Keep one"]),
    ("gkd_tiny", "rlhf:\n  num_generations: 4\n", "rlhf.num_generations", 3, ["only to grpo runs"]),
    ("grpo_dense_tiny", "rlhf:\n  lmbda: 0.5\n", "rlhf.lmbda", 3, ["only to gkd runs"]),
    ("grpo_dense_tiny", "custom:\n  telemetry: {per_dataset: true, per_token_type: false}\n", "custom.telemetry",
     3, ["not available in grpo runs", "completions.jsonl"]),
    ("stage2_ab_tiny", "rollout_matching:\n  backend: vllm\n  vllm:\n    mode: colocate\n",
     "rollout_matching.vllm.mode", 5, ["colocate is not supported", "mode: server"]),
    ("gkd_tiny", "custom:\n  dump_conversation_text: true\n", "custom.dump_conversation_text", 3,
     ["only written by sft runs"]),
]


@pytest.mark.parametrize(("preset", "body", "key", "line", "texts"), CASES,
                         ids=[f"{c[0]}:{c[2]}" for c in CASES])
def test_launcher_rejects_before_loading(write, preset, body, key, line, texts):
    path = write("exp.yaml", f"extends: {SMOKE / preset}.yaml\n{body}")
    where = f"{path}:{line}" if line <= body.count("\n") + 1 else f"configs/smoke/{preset}.yaml:{line}"
    start = time.monotonic()
    proc = launch(path)
    assert_config_error(proc, key, where, *texts)
    assert time.monotonic() - start < 30  # the stack (~10 s to import) never loads


def test_every_problem_is_listed_at_once(preset):
    path = preset("training:\n  learning_rate: -1\n  per_device_train_batch_size: 0\n")
    proc = launch(path)
    assert proc.returncode == 2 and "2 config problems" in proc.stderr
    assert f"training.learning_rate ({path}:3)" in proc.stderr
    assert f"training.per_device_train_batch_size ({path}:4)" in proc.stderr


def test_inspect_reports_value_rules_fast(preset):
    path = preset("tuner:\n  tuner_type: lorax\n")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "scripts/config_tools/inspect_config.py", "validate", str(path)],
                          cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=60)
    elapsed = time.monotonic() - start
    assert proc.returncode == 1 and f"tuner.tuner_type ({path}:3)" in proc.stdout
    assert elapsed < 5  # ~0.4 s including the interpreter start; generous for a busy CI machine


@pytest.mark.skipif(installed("deepspeed"), reason="deepspeed is installed here: nothing is missing")
def test_missing_gpu_package_names_the_install_command(preset):
    path = preset("deepspeed:\n  config: zero2\n")
    assert_config_error(launch(path), "deepspeed.config", f"{path}:3", "pip install -e '.[gpu]'")


def test_gpu_package_requirements(monkeypatch, preset):
    from src.config import load_training_config
    from src.config import requirements as req

    cfg = load_training_config(preset("model:\n  attn_impl: flash_attention_2\ndeepspeed:\n  config: zero3\n"))
    monkeypatch.setattr(req, "installed", lambda module: False)
    by_key = {p.key: p for p in req.missing_package_problems(cfg)}
    assert set(by_key) == {"model.attn_impl", "deepspeed.config"}
    assert "flash-attn" in by_key["model.attn_impl"].message and "--no-build-isolation" in by_key["model.attn_impl"].message
    monkeypatch.setattr(req, "installed", lambda module: True)
    assert req.missing_package_problems(cfg) == []


def test_value_snapshot_matches_installed_packages():
    fresh = dumps(build_snapshot())
    committed = SNAPSHOT_PATH.read_text(encoding="utf-8")
    if fresh != committed:
        diff = "".join(difflib.unified_diff(committed.splitlines(keepends=True), fresh.splitlines(keepends=True),
                                            "src/config/swift_values.json (committed)", "installed packages"))
        pytest.fail("the enums of the installed ms-swift / transformers differ from the committed snapshot; if a "
                    "pin changed on purpose run `python -m src.contracts.snapshot_swift_values` and commit.\n" + diff)


def test_harmless_ignored_settings_are_warnings_at_launch_and_in_validate(preset, tmp_path):
    """save_steps with save_strategy 'no' is common (a quick run without checkpoints): a warning, printed
    at launch (this launch then stops on --resume with nothing to resume, exit 2) and by validate."""
    path = preset("training:\n  save_strategy: 'no'\n")
    proc = launch(path, f"training.output_dir={tmp_path / 'none'}", "--resume")
    assert proc.returncode == 2 and "--resume found no complete checkpoint" in proc.stderr
    smoke = "configs/smoke/sft_dense_tiny.yaml"
    for key, line in (("training.save_steps", 40), ("training.save_total_limit", 41)):
        assert f"warning: {key} ({smoke}:{line}): has no effect with training.save_strategy: 'no' ({path}:3)" in (
            proc.stderr)
    validate = subprocess.run([sys.executable, "scripts/config_tools/inspect_config.py", "validate", str(path)],
                              cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=60)
    assert validate.returncode == 0 and f"warning: training.save_steps ({smoke}:40)" in validate.stdout


def test_grpo_without_telemetry_keys_is_valid_and_written_on_is_not(write):
    """The schema default (telemetry on) applies only in modes that have telemetry: a GRPO preset that
    never mentions it validates; writing it on is the error above."""
    from src.config import load_training_config
    from src.config.errors import ConfigError

    text = (SMOKE / "grpo_dense_tiny.yaml").read_text(encoding="utf-8")
    text = text.replace("extends: ../base.yaml", f"extends: {REPO_ROOT / 'configs/base.yaml'}")
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("telemetry:")]
    assert len(lines) == len(text.splitlines()) - 1  # the preset's explicit off line is gone
    path = write("grpo_no_telemetry.yaml", "\n".join(lines) + "\n")
    assert load_training_config(path).mode == "grpo"
    written_on = r"telemetry is not available in grpo runs \(custom\.telemetry\.per_token_type at override"
    with pytest.raises(ConfigError, match=written_on):
        load_training_config(path, overrides=["custom.telemetry.per_token_type=true"])


def test_max_pixels_below_the_processor_min_pixels(tmp_path, preset):
    """min_pixels > max_pixels: a local model whose processor config asks for at least 256x256 pixels."""
    import json

    from src.config import ConfigError, load_training_config

    model = tmp_path / "qwen3-vl"
    model.mkdir()
    (model / "preprocessor_config.json").write_text(json.dumps(
        {"patch_size": 16, "merge_size": 2, "size": {"shortest_edge": 65536, "longest_edge": 16777216}}))
    path = preset(f"model:\n  model: {model}\ntemplate:\n  max_pixels: 40000\n")
    with pytest.raises(ConfigError) as exc:
        load_training_config(path)
    assert f"template.max_pixels ({path}:5)" in str(exc.value)
    assert "below the image processor's min_pixels 65536" in str(exc.value) and "at least 65536" in str(exc.value)
    assert load_training_config(path, ["template.max_pixels=65536"]).template["max_pixels"] == 65536


def test_vllm_limits_accept_every_vllm_modality_and_json_text():
    from src.config.value_rules import _mm_limits

    assert _mm_limits({"image": 2, "video": 0, "audio": 1}) is None
    assert _mm_limits('{"image": 1}') is None
    assert "whole number" in _mm_limits({"image": -1})
    assert "Did you mean 'video'?" in _mm_limits({"vidio": 1})
