"""The layers of `src/`: a package imports only from its own package and from lower layers.

Every import is counted: module level, inside functions, under `TYPE_CHECKING`, absolute
(`import src.x`, `from src.x import y`, `from src import x`) and relative (`from ..x import y`).
Packages in one layer are siblings and independent of each other. A new package (or top-level
module) under `src/` fails `test_every_package_has_a_layer` until it is placed in the table.
"""

from __future__ import annotations

import ast
from pathlib import Path

from src.config.paths import REPO_ROOT

# Lowest first. A unit is a package under src/ (src/config/...) or a top-level module (src/sft.py).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("constants", "distributed"),  # shared constants; the collectives (import nothing from src)
    ("config",),  # YAML layers -> TrainingConfig, server-mode checks; never torch
    ("datasets", "boundary", "seed_migration"),  # records, rendering, geometry, augmentation, fusion; ms-swift
    #                                             argument objects; the seed system's configs -> ours (migrate)
    ("provenance", "audit"),  # run directory + manifest; template fingerprint (run-time drift guard)
    ("rewards", "stage2", "rollout"),  # GRPO rewards; stage-2 matching / targets; rollout backends + the vLLM rollout server
    ("eval",),  # python -m src.eval (detection metrics)
    ("trainers",),  # dispatch and the ms-swift seams (in-training detection eval uses src.eval)
    ("sft", "launch_check", "models", "contracts"),  # entry points: the launcher, its dry-run check, the tiny-model builders, snapshot generators
)

LAYER_OF = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def unit_of(module: str) -> str | None:
    """`src.config.tools.deep` -> `config`; `src` itself -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "src" else None


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def src_imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """`(line, module)` of every import of a `src` module in `path` (relative imports resolved; for
    `from src import x` the module is `src.x`)."""
    module = module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "src"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "src":
                found += [(node.lineno, f"src.{a.name}") for a in node.names]
            elif target.startswith("src."):
                found.append((node.lineno, target))
    return found


def src_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "src").rglob("*.py") if "__pycache__" not in p.parts)


def layer_violations(root: Path) -> list[str]:
    problems = []
    for path in src_files(root):
        rel = path.relative_to(root).as_posix()
        unit = unit_of(module_name(path, root))
        if unit is None or unit not in LAYER_OF:
            continue  # src/__init__.py; unplaced units fail test_every_package_has_a_layer
        for line, target in src_imports(path, root):
            other = unit_of(target)
            if other is None or other == unit or other not in LAYER_OF:
                continue
            mine, theirs = LAYER_OF[unit], LAYER_OF[other]
            if theirs > mine:
                problems.append(f"{rel}:{line} imports {target}, and {other} (layer {theirs}) is above "
                                f"{unit} (layer {mine})")
            elif theirs == mine:
                problems.append(f"{rel}:{line} imports {target}, and {other} is a sibling of {unit} in "
                                f"layer {mine} (siblings are independent)")
    return problems


def units(root: Path) -> set[str]:
    return {unit_of(module_name(p, root)) for p in src_files(root)} - {None}


def test_every_package_has_a_layer() -> None:
    present = units(REPO_ROOT)
    assert not present - set(LAYER_OF), f"place these src units in LAYERS: {sorted(present - set(LAYER_OF))}"
    assert not set(LAYER_OF) - present, f"LAYERS names units that no longer exist: {sorted(set(LAYER_OF) - present)}"


def test_no_package_imports_from_a_layer_above_it() -> None:
    problems = layer_violations(REPO_ROOT)
    assert not problems, ("imports against the layer order (tests/test_layers.py LAYERS, lowest first):\n  "
                          + "\n  ".join(problems))


# ------------------------------------------------------------------------------------------- meta


def test_meta_upward_imports_are_found_in_every_form(tmp_path: Path) -> None:
    files = {
        "src/__init__.py": "",
        "src/config/__init__.py": "from . import errors\n",
        "src/config/errors.py": "import src.constants\n",
        "src/config/tools/deep.py": "def f():\n    from ...trainers import dispatch\n",
        "src/config/lazy.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from src.eval import run\n",
        "src/datasets/a.py": "from src import stage2\nimport src.trainers.x as y\n",
        "src/rewards/r.py": "from src.stage2.matching import m\n",
        "src/stage2/matching.py": "from src.config.errors import e\n",
        "src/trainers/dispatch.py": "from src.config import errors\n",
        "src/eval/run.py": "",
        "src/constants.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    problems = layer_violations(tmp_path)
    assert problems == [
        "src/config/lazy.py:3 imports src.eval, and eval (layer 5) is above config (layer 1)",
        "src/config/tools/deep.py:2 imports src.trainers, and trainers (layer 6) is above config (layer 1)",
        "src/datasets/a.py:1 imports src.stage2, and stage2 (layer 4) is above datasets (layer 2)",
        "src/datasets/a.py:2 imports src.trainers.x, and trainers (layer 6) is above datasets (layer 2)",
        ("src/rewards/r.py:1 imports src.stage2.matching, and stage2 is a sibling of rewards in layer 4 "
         "(siblings are independent)"),
    ]
