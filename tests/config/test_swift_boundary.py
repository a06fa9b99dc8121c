"""The guarded ms-swift boundary (src/boundary/arguments.py): every rejection raised while our
config becomes ms-swift arguments (argument classes, the tuner check, optimizer and scheduler) is a
ConfigError naming the ms-swift argument, the config key, its file:line, ms-swift's message and the fix.

The fast value rules catch the issue's examples at load time; here they are switched off so the
boundary itself is shown to catch each of them (defence in depth: a rule we do not have yet)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import src.config.validate as validate_module
from src.boundary.arguments import _mentioned, swift_arguments
from src.config import ConfigError, load_training_config
from src.config.paths import REPO_ROOT

SMOKE = REPO_ROOT / "configs/smoke"


@pytest.fixture
def without_fast_rules(monkeypatch):
    monkeypatch.setattr(validate_module, "value_problems", lambda mode, resolved: [])
    monkeypatch.setattr(validate_module, "ignored_problems", lambda mode, resolved: [])


# (preset, YAML body from line 2, key, ms-swift's own words)
CASES = [
    ("sft_dense_tiny", "tuner:\n  tuner_type: lorax\n", "tuner.tuner_type", "Unknown tuner_type: lorax"),
    ("sft_dense_tiny", "training:\n  learning_rate: -1\n", "training.learning_rate", "Invalid learning rate: -1"),
    ("sft_dense_tiny", "training:\n  warmup_ratio: 2\n", "training.warmup_ratio", "must be less than 1"),
    ("gkd_tiny", "rlhf:\n  seq_kd: true\n", "rlhf.seq_kd", "NotImplementedError: seq_kd=True"),
    ("gkd_tiny", "rlhf:\n  beta: 3\n", "rlhf.beta", "beta must be in the range [0.0, 1.0]"),
    ("sft_dense_tiny", "model:\n  model: artifacts/no-such-model\n", "model.model", "not found"),
]


@pytest.mark.parametrize(("preset", "body", "key", "swift_says"), CASES, ids=[c[2] for c in CASES])
def test_boundary_turns_each_rejection_into_a_config_error(write, tmp_path, without_fast_rules, preset, body, key,
                                                           swift_says):
    path = write("exp.yaml", f"extends: {SMOKE / preset}.yaml\n{body}")
    cfg = load_training_config(path, [f"training.output_dir={tmp_path}/run"])
    with pytest.raises(ConfigError) as info:
        swift_arguments(cfg)
    (problem,) = info.value.problems
    assert problem.key == key and problem.where == f"{path}:3"
    name = key.split(".")[1]
    assert f"ms-swift argument `{name}`" in problem.message and swift_says in problem.message
    assert f"Fix: change {key} in {path}:3" in problem.message


@pytest.mark.slow  # one launch up to the boundary: ms-swift import, ~15 s
def test_launcher_exits_2_on_a_value_only_ms_swift_rejects(write, tmp_path):
    """cosine_with_min_lr without min_lr passes every fast rule; the scheduler check at the boundary
    refuses it before the model loads (the scheduler is otherwise built after the weights)."""
    path = write("exp.yaml", f"extends: {SMOKE}/sft_dense_tiny.yaml\ntraining:\n  lr_scheduler_type: cosine_with_min_lr\n")
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "src.sft", "--config", str(path), f"training.output_dir={out}",
                           f"training.logging_dir={out}/tb"], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=600, check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2, text[-3000:]
    assert "Traceback" not in text
    assert "training.lr_scheduler_kwargs" in proc.stderr and "min_lr" in proc.stderr
    assert "Fix: set training.lr_scheduler_kwargs" in proc.stderr
    assert "model_parameter_info" not in text  # ms-swift logs it once the model is built: never reached


def test_mentioned_names():
    names = ["learning_rate", "beta", "model", "seq_kd", "vit_lr"]
    assert _mentioned("ValueError: Invalid learning rate: -1", names) == ["learning_rate"]
    assert _mentioned("beta must be in the range [0.0, 1.0]", names) == ["beta"]
    assert _mentioned("NotImplementedError: seq_kd=True is deprecated", names) == ["seq_kd"]
    assert _mentioned("could not load the model weights", names) == []  # one-word names need argument form


def test_the_config_logging_dir_wins_over_an_inherited_tensorboard_env(write, tmp_path, monkeypatch, caplog):
    """ms-swift passes logging_dir to transformers' TensorBoardCallback with os.environ.setdefault: an inherited
    TENSORBOARD_LOGGING_DIR (a user's shell, an earlier arguments object in the process) must not win silently."""
    import os

    from src.boundary.arguments import TENSORBOARD_ENV

    monkeypatch.setenv(TENSORBOARD_ENV, str(tmp_path / "elsewhere"))
    cfg = load_training_config(SMOKE / "sft_dense_tiny.yaml", [f"training.output_dir={tmp_path}/run",
                                                               f"training.logging_dir={tmp_path}/run/tb"])
    swift_arguments(cfg, offline=True)  # validate --deep: leaves the environment as it was
    assert os.environ[TENSORBOARD_ENV] == str(tmp_path / "elsewhere")
    with caplog.at_level("WARNING", logger="src.boundary.arguments"):
        swift_arguments(cfg)  # a run: the config's directory, and the replacement is said
    assert os.environ[TENSORBOARD_ENV] == str(tmp_path / "run" / "tb")
    assert f"{TENSORBOARD_ENV}={tmp_path / 'elsewhere'} in the environment is replaced" in caplog.text
