"""Helpers for config tests: write small YAML trees into tmp_path."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from src.config.paths import REPO_ROOT

SMOKE_PRESET = REPO_ROOT / "configs/smoke/sft_dense_tiny.yaml"

WriteFn = Callable[[str, str], Path]


@pytest.fixture
def write(tmp_path: Path) -> WriteFn:
    """write("a.yaml", text) -> path; text is dedented; parent folders are created."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def preset(write: WriteFn) -> Callable[[str], Path]:
    """A config extending the smoke SFT preset, plus `body` (dedented YAML) -> its path."""

    def _preset(body: str, name: str = "exp.yaml") -> Path:
        return write(name, f"extends: {SMOKE_PRESET}\n" + textwrap.dedent(body).lstrip("\n"))

    return _preset
