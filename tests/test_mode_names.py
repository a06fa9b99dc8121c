"""A mode's name is written only where the mode is declared: its spec (`src/config/modes/`) and its recipe
(`src/trainers/<mode>.py`). Everywhere else reads the spec (capabilities, selection, rules), so adding a
mode never means finding comparisons scattered over src/ (docs/architecture.md, "Adding a mode")."""

from __future__ import annotations

import ast
from pathlib import Path

from src.config.modes import specs
from src.config.paths import REPO_ROOT

SRC = REPO_ROOT / "src"
NAMES = {"sft", "gkd", "grpo", "stage2_ab"}
HOMES = ("src/config/modes/", *(f"src/trainers/{name}.py" for name in sorted(NAMES)))


def mode_literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in NAMES]


def test_mode_names_are_written_only_in_their_spec_and_recipe():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(REPO_ROOT).as_posix()
        if rel.startswith(HOMES):
            continue
        found += [f"{rel}:{line}: {value!r}" for line, value in mode_literals(path)]
    assert not found, "mode names outside their spec / recipe (read the mode's ModeSpec instead):\n" + "\n".join(found)


def test_the_checker_sees_a_literal(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text('if cfg.mode == "grpo":\n    pass\nx = ("sft", "other")\n')
    assert mode_literals(probe) == [(1, "grpo"), (3, "sft")]
    assert NAMES == set(specs())  # the names this test guards are the declared modes
