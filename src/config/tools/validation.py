"""`validate`: resolve and validate many configs (default: every YAML under configs/).

Training configs are validated with the training schema (files under configs/train,
configs/smoke, configs/debug.yaml and files outside configs/ as runnable presets, configs/base.yaml
as a layer); fusion configs with the fusion loader. Status per file: `ok`, `invalid` (resolves
but fails validation; exit 1) or `error` (cannot be resolved; exit 2). `--deep` also builds
the ms-swift arguments of each runnable preset (tools/deep.py; imports ms-swift).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

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
    """`deep`: runnable training presets also build their ms-swift arguments (tools/deep.py); `overrides`
    (`key.path=value`) apply to training configs as on the `python -m src.sft` command line."""
    name = display_path(path)
    try:
        loaded = load_config(path, overrides)
    except LoadError as exc:
        return FileResult(name, "error", "cannot be loaded", "\n".join(f"- {p.render()}" for p in exc.problems))
    files = _count(loaded.chain, "file")
    summary = f"{loaded.describe()}, {files}"
    if loaded.kind == "fusion" and loaded.valid:
        summary = (f"fusion config, {_count(loaded.data['targets'], 'target')}, "
                   f"{_count(loaded.data['sources'], 'source')}, {files}")
    if not loaded.valid:
        return FileResult(name, "invalid", summary, "\n".join(f"- {p.render()}" for p in loaded.problems))
    warnings: list[str] = []
    if loaded.kind == "training" and loaded.resolved is not None:
        warnings += [w.render() for w in ignored_warnings(loaded.mode, loaded.resolved)]
    if loaded.kind == "training" and loaded.runnable and len(loaded.chain) > MAX_CHAIN:
        warnings.append(
            f"resolves from {len(loaded.chain)} files (guideline: at most {MAX_CHAIN}); "
            "fold component files into the preset"
        )
    if deep and loaded.kind == "training" and loaded.runnable:
        from ..loader import load_training_config
        from .deep import deep_check

        result = deep_check(load_training_config(path, overrides=list(overrides)))
        warnings += [f"--deep: {note}" for note in result.notes]
        if result.problems:
            return FileResult(name, "invalid", f"{summary}, rejected by ms-swift (--deep)",
                              "\n".join(f"- {p.render()}" for p in result.problems), tuple(warnings))
        summary += ", ms-swift arguments built"
    return FileResult(name, "ok", summary, warnings=tuple(warnings))


def validate_paths(paths: Sequence[Path], deep: bool = False, overrides: Sequence[str] = ()) -> list[FileResult]:
    return [validate_file(p, deep, overrides) for p in paths]


def exit_code(results: Sequence[FileResult]) -> int:
    if any(r.status == "error" for r in results):
        return 2
    if any(r.status == "invalid" for r in results):
        return 1
    return 0
