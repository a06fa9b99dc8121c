"""Shared helpers of the config-tool tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from src.config.paths import REPO_ROOT

TOOL = REPO_ROOT / "scripts/config_tools/inspect_config.py"
VALIDATE_SCRIPT = REPO_ROOT / "scripts/validate_sft_config.py"
DENSE_1024 = REPO_ROOT / "configs/train/sft/dense_1024.yaml"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def run_script(*args: str | Path, cwd: Path = REPO_ROOT, script: Path = TOOL) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *(str(a) for a in args)],
        check=False, cwd=cwd, capture_output=True, text=True, timeout=120,
    )


def line_of(path: Path, pattern: str, after: str | None = None) -> int:
    """1-based line of the first line matching `pattern` (a regex), searching after the first
    line matching `after` when given."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = 0
    if after is not None:
        start = next(i for i, line in enumerate(lines) if re.search(after, line)) + 1
    return next(i for i in range(start, len(lines)) if re.search(pattern, lines[i])) + 1


def payload(out: str) -> str:
    """The payload after the '#' header lines of `inspect`."""
    lines = out.splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("#"))


def section(out: str, title: str) -> list[str]:
    """Lines of a diff section (`forbidden differences`, `allowed differences`, `differences`)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title + " ("))
    body = []
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        body.append(line.strip())
    return body
