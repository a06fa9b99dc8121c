"""The README's commands stay runnable, and the docs' numbers match the tree.

Every line of the README's "Two commands" and "Everyday commands" blocks is run cheaply: a `python`
line as `--help` of its script or module (with its subcommand), plus the one fully concrete command
(`inspect ... --explain`) as written; a `make` line as `make -n` (the target exists and expands).
About 5 s in all (one subprocess per command, no torch import)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from src.config import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
SUBCOMMAND = re.compile(r"^[a-z][a-z_-]*$")


def _block(title: str) -> list[str]:
    section = README.split(f"## {title}", 1)[1]
    code = section.split("```bash", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in code.strip().splitlines() if line.split("#", 1)[0].strip()]


COMMANDS = _block("Two commands") + _block("Everyday commands")


def _help_command(line: str) -> list[str]:
    """`python X.py sub ... args` -> `python X.py sub --help`; `python -m mod args` -> `python -m mod --help`."""
    words = shlex.split(line.replace("[", "").replace("]", ""))
    assert words[0] == "python", line
    head = words[1:3] if words[1] == "-m" else words[1:2]
    rest = words[len(head) + 1:]
    sub = rest[:1] if rest and SUBCOMMAND.match(rest[0]) and words[1] != "-m" else []
    return [sys.executable, *head, *sub, "--help"]


def test_the_readme_lists_the_commands_this_test_runs():
    assert any(c.startswith("python -m src.sft") and "--resume" in c for c in COMMANDS)
    assert {c.split()[0] for c in COMMANDS} == {"make", "python"}, COMMANDS
    assert len(COMMANDS) >= 14


@pytest.mark.parametrize("line", COMMANDS)
def test_every_readme_command_runs(line):
    if line.startswith("make"):
        cmd = ["make", "-n", *shlex.split(line)[1:]]
    else:
        cmd = _help_command(line)
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"{line!r} -> {cmd}: {proc.stdout[-1500:]}{proc.stderr[-1500:]}"
    if not line.startswith("make"):
        assert proc.stdout.startswith("usage:"), proc.stdout[:300]


def test_the_concrete_inspect_command_runs_as_written():
    (line,) = [c for c in COMMANDS if " inspect --config " in c]
    proc = subprocess.run([sys.executable, *shlex.split(line)[1:]], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0 and "training.learning_rate" in proc.stdout, proc.stderr[-1500:]


def test_the_config_guide_counts_every_config_of_the_tree():
    guide = (REPO_ROOT / "docs/config_guide.md").read_text(encoding="utf-8")
    found = {int(n) for n in re.findall(r"(\d+) configs checked", guide)}
    yamls = [p for p in (REPO_ROOT / "configs").rglob("*") if p.suffix in (".yaml", ".yml")]
    assert found == {len(yamls)}, f"docs/config_guide.md says {found} configs, the tree has {len(yamls)}"
