"""vLLM server-mode validation: bad settings fail with a clear message before anything heavy loads."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from src.config import ConfigError, load_training_config
from src.config.paths import REPO_ROOT
from src.config.server_mode import host_problem, server_mode_problems, validate_server_mode

SERVER_PRESET = "configs/train/grpo/summary_server.yaml"
HEAVY = ("torch", "transformers", "swift", "trl", "vllm")


def load(*overrides: str, path: str | Path = SERVER_PRESET):
    return load_training_config(path, overrides)


def messages(cfg, env=None) -> list[str]:
    return [p.render() for p in server_mode_problems(cfg, env={} if env is None else env)]


@pytest.fixture
def no_port_preset(tmp_path: Path) -> Path:
    """Server mode written without rlhf.vllm_server_port (ms-swift would silently use 8000)."""
    path = tmp_path / "no_port.yaml"
    path.write_text(
        f"extends: {REPO_ROOT / 'configs/train/grpo/summary_1024.yaml'}\n"
        "rlhf:\n  vllm_mode: server\n  vllm_server_host: [127.0.0.1]\n  sleep_level: 0\n",
        encoding="utf-8",
    )
    return path


def test_the_shipped_server_overlay_is_valid():
    validate_server_mode(load(), env={})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_hosts_are_accepted(host):
    assert host_problem(host) is None


def test_wildcard_host_is_rejected_naming_key_and_file():
    (msg,) = messages(load("rlhf.vllm_server_host=[0.0.0.0]"))
    assert msg.startswith("rlhf.vllm_server_host (override:rlhf.vllm_server_host=[0.0.0.0])")
    assert "bind-all" in msg and "127.0.0.1" in msg


@pytest.mark.parametrize("host", ["10.0.0.2", "192.168.1.5", "gpu-node-3", "::"])
def test_non_loopback_hosts_are_rejected(host):
    assert host_problem(host) is not None


def test_missing_port_is_rejected(no_port_preset):
    (msg,) = messages(load(path=no_port_preset))
    assert msg.startswith("rlhf.vllm_server_port (") and str(no_port_preset.name) in msg
    assert "port" in msg and "8000" in msg


def test_one_port_per_server():
    cfg = load("rlhf.vllm_server_host=[127.0.0.1,127.0.0.1]", "rlhf.vllm_server_port=[8000]")
    assert any("one port per server" in m for m in messages(cfg))
    dup = load("rlhf.vllm_server_host=[127.0.0.1,127.0.0.1]", "rlhf.vllm_server_port=[8000,8000]")
    assert any("each server once" in m for m in messages(dup))
    assert messages(load("rlhf.vllm_server_host=[127.0.0.1,127.0.0.1]", "rlhf.vllm_server_port=[8000,8001]")) == []


def test_max_model_len_below_global_max_length_is_rejected():
    # The loader already refuses a written value that disagrees with global_max_length ...
    with pytest.raises(ConfigError, match="rlhf.vllm_max_model_len"):
        load("rlhf.vllm_max_model_len=1024")
    # ... and the server check refuses a config that reaches it with a short server anyway.
    cfg = load()
    short = dataclasses.replace(cfg, rlhf={**cfg.rlhf, "vllm_max_model_len": 1024})
    (msg,) = messages(short)
    assert msg.startswith("rlhf.vllm_max_model_len (") and "1024" in msg and "4096" in msg
    assert "summary_1024.yaml" in msg  # where global_max_length was written


def test_api_key_is_rejected():
    assert any("VLLM_API_KEY" in m for m in messages(load(), env={"VLLM_API_KEY": "secret"}))
    cfg = load("rlhf.vllm_server_host=null", "rlhf.vllm_server_base_url=['http://127.0.0.1:8000?api_key=x']")
    assert any("API key" in m for m in messages(cfg))


def test_base_urls_need_loopback_and_a_port():
    ok = load("rlhf.vllm_server_host=null", "rlhf.vllm_server_base_url=[http://127.0.0.1:8000]")
    assert messages(ok) == []
    bad = load("rlhf.vllm_server_host=null", "rlhf.vllm_server_base_url=[http://10.1.1.1]")
    text = " ".join(messages(bad))
    assert "loopback" in text and "port" in text
    both = load("rlhf.vllm_server_base_url=[http://127.0.0.1:8000]")
    assert any("not both" in m for m in messages(both))


def test_other_runs_are_not_checked():
    assert messages(load(path="configs/train/grpo/summary_1024.yaml")) == []  # colocate
    assert messages(load(path="configs/smoke/grpo_dense_tiny.yaml")) == []  # HF rollouts


def _launch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "src.sft", "--config", *args],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.mark.parametrize("case", ["wildcard_host", "missing_port", "short_max_model_len"])
def test_launcher_fails_fast_before_importing_heavy_modules(case, no_port_preset):
    args = {
        "wildcard_host": (SERVER_PRESET, "rlhf.vllm_server_host=[0.0.0.0]"),
        "missing_port": (str(no_port_preset),),
        "short_max_model_len": (SERVER_PRESET, "rlhf.vllm_max_model_len=2048"),
    }[case]
    proc = _launch(*args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
    text = "\n".join(errors)
    key = {"wildcard_host": "rlhf.vllm_server_host", "missing_port": "rlhf.vllm_server_port",
           "short_max_model_len": "rlhf.vllm_max_model_len"}[case]
    assert key in text
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert not set(HEAVY) & imported


def test_gkd_server_mode_is_checked_too(easy_rl_data_dir):
    cfg = load("rlhf.use_vllm=true", "rlhf.vllm_mode=server", "rlhf.vllm_server_host=[0.0.0.0]",
               "rlhf.vllm_server_port=[8000]", path="configs/smoke/gkd_tiny.yaml")
    assert cfg.mode == "gkd" and cfg.rlhf["vllm_max_model_len"] == cfg.global_max_length
    (msg,) = messages(cfg)
    assert msg.startswith("rlhf.vllm_server_host (override:")
