"""Parity across a migration: the seed-format preset, translated by the migration table, against ours.

The old side is resolved (extends, as the seed did), then `migrate.translate` is applied to the
resolved mapping, and its fusion config (a path relative to the seed repository root, the folder
holding its `configs/`) is resolved the seed's way (entries merged by name) and translated too.
Renamed or moved keys with equal values are then not differences; what remains is judged by the
seed 001 allowlist (`parity.parity_reason`). Settings without an equivalent (the table's
`untranslated`) and a fusion selection that cannot be loaded on either side block parity.
`custom.fusion_config` itself is compared through the selections it resolves to (the path moves).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from src.config.errors import ConfigError
from src.config.extends import linearize
from src.config.fusion import LIST_KEYS, _FusionFile, _merge_list
from src.config.paths import display_path, locate_config_file
from src.config.resolve import resolve_config
from src.config.tools.diffing import FUSION_PREFIX, Change, diff_trees
from src.config.tools.loading import key_fusion_entries, load_config
from src.config.yaml_io import load_yaml_file

from .migrate import Translation, translate
from .parity import augmentation_disabled, parity_reason
from .seed_paths import PathPlan, SeedLayout
from .seed_table import Context

FUSION_PATH = "custom.fusion_config"


@dataclass
class MigrationParity:
    old: str
    new: str
    allowed: list[tuple[Change, str]] = field(default_factory=list)
    forbidden: list[Change] = field(default_factory=list)
    untranslated: list[Translation] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)  # fusion selections that cannot be compared

    @property
    def passed(self) -> bool:
        return not (self.forbidden or self.untranslated or self.blockers)

    @property
    def status(self) -> str:
        if self.passed:
            return "parity"
        if not self.forbidden and not self.blockers:
            return "no equivalent"
        return "differs"


def seed_root_of(path: Path) -> Path:
    """The seed repository root of a config file: the parent of its nearest `configs` folder."""
    for parent in path.resolve().parents:
        if parent.name == "configs":
            return parent.parent
    return path.resolve().parent


def seed_fusion(path: Path) -> tuple[dict[str, Any] | None, list[Translation], str | None]:
    """(name-keyed translated entries, translations, error) of a seed-format fusion config."""
    try:
        docs = linearize(path, load_yaml_file)
    except ConfigError as exc:
        return None, [], str(exc)
    lists: dict[str, list] = {k: [] for k in LIST_KEYS}
    problems: list = []
    for doc in docs:
        for key in LIST_KEYS:
            if key in doc.data:
                lists[key] = _merge_list(lists[key], doc, key, problems)
    data = {k: [e.data for e in v] for k, v in lists.items()}
    res = translate(data, fusion=True, paths=PathPlan(SeedLayout.of(path)))  # JSONL paths as `migrate` writes them
    for entries in res.data.values():
        for entry in entries:
            entry.setdefault("name", entry.get("dataset"))
    try:
        parsed = _FusionFile.model_validate(res.data)
    except ValidationError as exc:
        return None, res.translations, f"{display_path(path)} does not resolve to a valid selection: " + "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:4])
    resolved = {"targets": [t.model_dump() for t in parsed.targets], "sources": [s.model_dump() for s in parsed.sources]}
    return key_fusion_entries(resolved), res.translations, None


def migration_parity(old: str | Path, new: str | Path) -> MigrationParity:
    old_path, new_path = locate_config_file(old), locate_config_file(new)
    resolved = resolve_config(old_path)
    res = translate(resolved.data, Context(resolved.data))
    report = MigrationParity(display_path(old_path), display_path(new_path))
    report.untranslated = [t for t in res.translations if t.status == "untranslated"]
    loaded = load_config(new_path)
    right = loaded.structural if loaded.structural is not None else loaded.data
    changes = [c for c in diff_trees(res.data, right) if c.path != FUSION_PATH]

    old_fusion, new_fusion = None, None
    written = resolved.get(FUSION_PATH, None)
    if isinstance(written, str) and written:
        fusion_file = seed_root_of(old_path) / written
        if not fusion_file.is_file():
            report.blockers.append(f"old fusion config {written} not found at {fusion_file}")
        else:
            old_fusion, fusion_translations, error = seed_fusion(fusion_file)
            report.untranslated += [Translation(f"{written}: {t.old}", t.status, t.note)
                                    for t in fusion_translations if t.status == "untranslated"]
            if error:
                report.blockers.append(f"old fusion selection: {error}")
    if loaded.fusion is not None:
        if loaded.fusion.data is None:
            report.blockers.append("new fusion selection: " + " ".join(str(loaded.fusion.error).split()))
        else:
            new_fusion = key_fusion_entries(loaded.fusion.data)
    if old_fusion is not None and new_fusion is not None:
        changes += [Change(FUSION_PREFIX + c.path, c.left, c.right) for c in diff_trees(old_fusion, new_fusion)]
    aug_off = augmentation_disabled(res.data) and augmentation_disabled(right)
    for change in changes:
        reason = parity_reason(change.path, aug_off)
        if reason is None:
            report.forbidden.append(change)
        else:
            report.allowed.append((change, reason))
    return report


def is_seed_format(path: str | Path) -> bool:
    """Whether the migration table would change this config (it is written in the seed's format)."""
    resolved = resolve_config(locate_config_file(path))
    return bool(translate(resolved.data, Context(resolved.data)).translations)


def runnable_presets(root: Path) -> list[Path]:
    """The seed tree's runnable presets: YAML files under `train/` and `smoke/` of a configs root."""
    base = root / "configs" if (root / "configs").is_dir() else root
    found = [p for d in ("train", "smoke") for p in (base / d).rglob("*") if p.suffix in (".yaml", ".yml")]
    return sorted(found, key=lambda p: p.as_posix())


def parity_table(old_root: Path, new_root: Path) -> tuple[list[MigrationParity], str]:
    """The seed 001 checklist (old path -> new path -> status) for every runnable preset of `old_root`."""
    reports = []
    for old in runnable_presets(old_root):
        new = new_root / old.relative_to(old_root)
        if not new.is_file():
            report = MigrationParity(display_path(old), display_path(new))
            report.blockers.append("not migrated (no such file)")
        else:
            report = migration_parity(old, new)
        reports.append(report)
    lines = ["# Parity checklist (seed 001)", "",
             "| old path | new path | parity | forbidden keys | settings without an equivalent |",
             "|---|---|---|---|---|"]
    for r in reports:
        forbidden = ", ".join(f"`{c.path}`" for c in r.forbidden) + ("; " if r.forbidden and r.blockers else "") + \
            "; ".join(r.blockers)
        missing = ", ".join(f"`{t.old}`" for t in r.untranslated)
        lines.append(f"| `{r.old}` | `{r.new}` | {r.status} | {forbidden or '-'} | {missing or '-'} |")
    return reports, "\n".join(lines) + "\n"
