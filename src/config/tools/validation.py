"""`validate`: resolve and validate many configs (default: every YAML under configs/).

Training configs are validated with the training schema (files under configs/train,
configs/smoke, configs/debug.yaml and files outside configs/ as runnable presets, configs/base.yaml
as a layer); fusion configs with the fusion loader. Status per file: `ok`, `invalid` (resolves
but fails validation; exit 1) or `error` (cannot be resolved; exit 2). `--deep` also builds
the ms-swift arguments of each valid runnable preset, in one child process
(`python -m src.boundary.deep_check`: it imports ms-swift; this module never does).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..errors import Problem
from ..ignored_settings import ignored_warnings
from ..paths import REPO_ROOT, display_path, locate_config_file
from .loading import LoadError, load_config

Status = Literal["ok", "invalid", "error"]
MAX_CHAIN = 4  # runnable presets should resolve from at most this many files
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class FileResult:
    display: str
    status: Status
    summary: str = ""  # e.g. "sft, runnable preset, 2 files"
    detail: str = ""  # the error text for invalid/error
    warnings: tuple[str, ...] = field(default_factory=tuple)


def default_paths() -> list[Path]:
    return _yaml_files(REPO_ROOT / "configs")


def _yaml_files(folder: Path) -> list[Path]:
    found = [p for p in folder.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file()]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def expand_paths(paths: Iterable[str]) -> list[Path]:
    """Files as given; a folder stands for every YAML file below it (sorted)."""
    out: list[Path] = []
    for raw in paths:
        path = locate_config_file(raw)
        out.extend(_yaml_files(path) if path.is_dir() else [path])
    return out


def _count(items: Sequence[object], noun: str) -> str:
    return f"{len(items)} {noun}" + ("" if len(items) == 1 else "s")


def validate_file(path: Path, deep: bool = False, overrides: Sequence[str] = ()) -> FileResult:
    """`deep`: a valid runnable training preset also builds its ms-swift arguments (src/boundary/deep_check.py);
    `overrides` (`key.path=value`) apply to training configs as on the `python -m src.sft` command line."""
    return validate_paths([path], deep, overrides)[0]


def _check(path: Path, overrides: Sequence[str]) -> tuple[FileResult, bool]:
    """The result without ms-swift, and whether `--deep` has a preset to build."""
    name = display_path(path)
    try:
        loaded = load_config(path, overrides)
    except LoadError as exc:
        return FileResult(name, "error", "cannot be loaded", "\n".join(f"- {p.render()}" for p in exc.problems)), False
    files = _count(loaded.chain, "file")
    summary = f"{loaded.describe()}, {files}"
    if loaded.kind == "fusion" and loaded.valid:
        summary = (f"fusion config, {_count(loaded.data['targets'], 'target')}, "
                   f"{_count(loaded.data['sources'], 'source')}, {files}")
    if not loaded.valid:
        return FileResult(name, "invalid", summary, "\n".join(f"- {p.render()}" for p in loaded.problems)), False
    warnings = [f"data not found: {p.render()}" for p in loaded.missing_data]
    if loaded.kind == "training" and loaded.resolved is not None:
        warnings += [w.render() for w in ignored_warnings(loaded.mode, loaded.resolved)]
    if loaded.kind == "training" and loaded.runnable and len(loaded.chain) > MAX_CHAIN:
        warnings.append(
            f"resolves from {len(loaded.chain)} files (guideline: at most {MAX_CHAIN}); "
            "fold component files into the preset"
        )
    return FileResult(name, "ok", summary, warnings=tuple(warnings)), loaded.kind == "training" and loaded.runnable


def _deep_reports(paths: Sequence[Path], overrides: Sequence[str]) -> list[dict]:
    """One child process builds every preset's ms-swift arguments; its reports, in order."""
    with tempfile.TemporaryDirectory(prefix="validate_deep_") as tmp:
        out = Path(tmp) / "reports.json"
        sets = [arg for o in overrides for arg in ("--set", o)]
        proc = subprocess.run([sys.executable, "-m", "src.boundary.deep_check", "--out", str(out), *sets,
                               *map(str, paths)], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not out.is_file():  # every preset it was to build is reported as an error
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            return [{"failed": f"python -m src.boundary.deep_check exited with {proc.returncode}:\n{tail}"}] * len(paths)
        return json.loads(out.read_text())


def _with_deep(result: FileResult, report: dict) -> FileResult:
    if "failed" in report:
        return FileResult(result.display, "error", f"{result.summary}, the ms-swift check did not run (--deep)",
                          report["failed"], result.warnings)
    warnings = (*result.warnings, *(f"--deep: {note}" for note in report["notes"]))
    if report["problems"]:
        detail = "\n".join(f"- {Problem(**p).render()}" for p in report["problems"])
        return FileResult(result.display, "invalid", f"{result.summary}, rejected by ms-swift (--deep)", detail,
                          warnings)
    return FileResult(result.display, "ok", f"{result.summary}, ms-swift arguments built", warnings=warnings)


def validate_paths(paths: Sequence[Path], deep: bool = False, overrides: Sequence[str] = ()) -> list[FileResult]:
    checked = [_check(p, overrides) for p in paths]
    results = [result for result, _ in checked]
    built = [i for i, (result, buildable) in enumerate(checked) if deep and buildable]
    if built:
        for i, report in zip(built, _deep_reports([paths[i] for i in built], overrides), strict=True):
            results[i] = _with_deep(results[i], report)
    return results


def exit_code(results: Sequence[FileResult]) -> int:
    if any(r.status == "error" for r in results):
        return 2
    if any(r.status == "invalid" for r in results):
        return 1
    return 0
