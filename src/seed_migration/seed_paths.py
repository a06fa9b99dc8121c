"""Paths written in seed files -> what they name after the migration, wherever the tree lands.

The seed wrote `custom.fusion_config` and the fusion entries' `train_jsonl` / `val_jsonl` relative to
its repository root (the folder holding its `configs/`), and `extends` relative to the file. Copied
as written into another folder they would resolve against *our* repository root: not found, or a
file of the same name here (silently another fusion). So each such path is rewritten:
- a file this migration wrote: the migrated file (repo-relative when the tree lands inside this
  repository, absolute otherwise); `extends` between migrated files stays as written (same layout);
- a config file the migration did not include: the seed's own file, absolute, reported as
  `untranslated` (it is in the seed's format: migrate the tree that holds it);
- a JSONL file: the seed's file, absolute (the data stays where the seed keeps it);
- a path that cannot be placed (a copy of the configs folder under another name, and a path
  outside it): left out and reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from src.config.paths import REPO_ROOT
from src.constants import MISSING

from .seed_table import Status


@dataclass(frozen=True)
class SeedLayout:
    """Where a seed tree's paths point: its `configs/` folder and its repository root (None when the
    configs folder was copied under another name, so the root is unknown)."""

    configs: Path
    repo: Path | None

    @classmethod
    def of(cls, start: Path) -> SeedLayout:
        start = start.resolve()
        if start.is_dir() and (start / "configs").is_dir():
            return cls(start / "configs", start)
        for folder in (start, *start.parents):
            if folder.name == "configs":
                return cls(folder, folder.parent)
        return cls(start if start.is_dir() else start.parent, None)

    def locate(self, written: str) -> Path | None:
        """The file a repo-relative seed path names (`configs/...` is the configs folder, even renamed)."""
        path = Path(written)
        if path.is_absolute():
            return path
        if path.parts[:1] == ("configs",):
            return (self.configs / Path(*path.parts[1:])).resolve()
        return (self.repo / path).resolve() if self.repo is not None else None


@dataclass(frozen=True)
class Rewrite:
    value: Any  # MISSING: left out
    status: Status
    note: str
    to: str = "seed"  # migrated (a file of this migration) | seed (the seed's own file) | nowhere (left out)


def reference(path: Path) -> str:
    """How a config names a file: repo-relative inside this repository, absolute elsewhere."""
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path.resolve())


@dataclass(frozen=True)
class PathPlan:
    layout: SeedLayout
    migrated: Mapping[Path, Path] = field(default_factory=dict)  # seed file (resolved) -> its migrated file

    def _config(self, written: str, target: Path | None) -> Rewrite:
        if target is not None and target in self.migrated:
            new = reference(self.migrated[target])
            return Rewrite(new, "converted", f"{written} (seed path) is the migrated {new}", "migrated")
        if target is None:
            return Rewrite(MISSING, "untranslated", f"{written} is relative to the seed repository, whose root is "
                           f"unknown here ({self.layout.configs} is not named configs): write the path", "nowhere")
        found = "" if target.is_file() else " (not found there)"
        return Rewrite(str(target), "untranslated", f"{written} names the seed's own {target}{found}, which this "
                       "migration did not include (seed format): migrate the tree that holds it, or write a path")

    def fusion_config(self, written: Any) -> Rewrite | None:
        if not isinstance(written, str) or not written:
            return None
        return self._config(written, self.layout.locate(written))

    def extends(self, written: Any, file: Path) -> tuple[Any, list[Rewrite]]:
        """The `extends` value to write (a string or a list, as written) and what was rewritten."""
        items = [written] if isinstance(written, str) else written if isinstance(written, list) else []
        out, notes = [], []
        for item in items:
            target = (file.parent / item).resolve() if isinstance(item, str) else None
            if target is None or target in self.migrated:  # the same layout: the relative path still holds
                out.append(item)
                continue
            rewrite = self._config(item, target)
            notes.append(rewrite)
            out.append(rewrite.value)
        if not notes:
            return written, []
        return (out[0] if isinstance(written, str) else out), notes

    def data(self, written: Any) -> Rewrite | None:
        if not isinstance(written, str) or not written or Path(written).is_absolute():
            return None
        target = self.layout.locate(written)
        if target is None:
            return Rewrite(MISSING, "untranslated", f"{written} is relative to the seed repository, whose root is "
                           f"unknown here ({self.layout.configs} is not named configs): write the JSONL path", "nowhere")
        found = "" if target.is_file() else "; not found on this machine"
        return Rewrite(str(target), "converted", f"relative to the seed repository: written as {target}{found}")
