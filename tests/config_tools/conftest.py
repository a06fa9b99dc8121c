"""Fixtures for the config-tool tests: run the CLI in-process, write overlays of real presets."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from config_tools_helpers import DENSE_1024, Result

from src.seed_migration.cli import main  # what scripts/config_tools/inspect_config.py runs

ToolFn = Callable[..., Result]
OverlayFn = Callable[..., Path]


@pytest.fixture
def tool(capsys: pytest.CaptureFixture[str]) -> ToolFn:
    """tool("diff", "--left", ...) -> Result, running the CLI in this process: the config tools with
    src.seed_migration's commands and `diff --profile parity`, as inspect_config.py has them."""

    def _run(*args: str) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return _run


@pytest.fixture
def overlay(tmp_path: Path) -> OverlayFn:
    """overlay("a.yaml", "<yaml body>", parent=DENSE_1024) -> a file in tmp_path extending `parent`."""

    def _overlay(name: str, body: str = "", parent: Path = DENSE_1024) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"extends: {parent}\n" + textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
        return path

    return _overlay
