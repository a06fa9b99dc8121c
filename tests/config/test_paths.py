"""Repo root, repo-relative paths, and resolution independent of the working directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from src.config import REPO_ROOT, load_training_config, resolve_repo_path
from src.config.swift_args import build_swift_kwargs

PRESET = "configs/smoke/sft_dense_tiny.yaml"


def test_repo_root_holds_pyproject():
    assert (REPO_ROOT / "pyproject.toml").is_file()
    assert resolve_repo_path("configs/base.yaml") == REPO_ROOT / "configs/base.yaml"
    assert resolve_repo_path("/abs/x") == Path("/abs/x")


def _snapshot(cfg) -> dict:
    kwargs = build_swift_kwargs(cfg)
    return {
        "resolved": cfg.resolved,
        "chain": list(cfg.chain),
        "model": kwargs["model"],
        "output_dir": kwargs["output_dir"],
        "dataset": kwargs["dataset"],
        "fusion": str(cfg.fusion_config_path),
    }


def test_same_result_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    at_root = _snapshot(load_training_config(PRESET))
    monkeypatch.chdir(tmp_path)
    elsewhere = _snapshot(load_training_config(PRESET))  # repo-relative name, found via REPO_ROOT
    absolute = _snapshot(load_training_config(REPO_ROOT / PRESET))
    assert at_root == elsewhere == absolute
    # The resolved config keeps paths repo-relative (diffs identically across machines) ...
    assert at_root["resolved"]["model"]["model"] == "artifacts/tiny-qwen3-vl"
    assert at_root["resolved"]["training"]["output_dir"] == "output/smoke/sft_dense_tiny"
    assert at_root["chain"] == ["configs/base.yaml", PRESET]
    # ... and swift kwargs / accessors are absolute under the repository root.
    assert at_root["model"] == str(REPO_ROOT / "artifacts/tiny-qwen3-vl")
    assert at_root["output_dir"] == str(REPO_ROOT / "output/smoke/sft_dense_tiny")
    assert at_root["dataset"] == [str(REPO_ROOT / "artifacts/data/synthetic_dense/train.jsonl")]
    assert at_root["fusion"] == str(REPO_ROOT / "configs/fusion/variants/synthetic_tiny.yaml")


def test_resolution_in_a_subprocess_started_elsewhere(tmp_path):
    code = (
        "import json; from src.config import load_training_config as load;"
        f"c = load({str(REPO_ROOT / PRESET)!r}); print(json.dumps([str(c.output_dir), list(c.chain)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
    ).stdout
    output_dir, chain = json.loads(out)
    assert output_dir == str(REPO_ROOT / "output/smoke/sft_dense_tiny")
    assert chain == ["configs/base.yaml", PRESET]
