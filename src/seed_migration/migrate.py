"""`inspect_config.py migrate`: the seed system's configs -> ours, with a report of every translation.

`translate(data, ctx)` applies `seed_table` to one mapping (a file's keys, or a whole resolved
config for the parity diff) and returns our mapping plus one `Translation` per seed setting it
touched: renamed, converted, dropped (no effect / already our behaviour) or untranslated (no
equivalent; left out, with the reason and what to write instead). Nothing is guessed silently:
every setting that is not written unchanged appears in the report.

`migrate_file` / `migrate_tree` write the migrated YAML (comments kept, `yaml_emit`) and return the
report; paths of fusion configs inside the migrated tree are rewritten to their new location.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from src.config.errors import ConfigError
from src.config.extends import EXTENDS_KEY
from src.config.fusion import LIST_KEYS
from src.config.paths import REPO_ROOT, display_path
from src.config.resolve import resolve_config
from src.config.yaml_io import join_index, join_key, load_yaml_file

from .seed_table import OP_PARAM_RENAMES, RULES_BY_KEY, Context, Outcome, Status
from .yaml_emit import comments_of, emit

FUSION_KEYS = frozenset((EXTENDS_KEY, *LIST_KEYS))


@dataclass(frozen=True)
class Translation:
    old: str
    status: Status
    note: str
    new: tuple[str, ...] = ()
    where: str = ""


@dataclass
class Result:
    data: dict[str, Any]
    translations: list[Translation] = field(default_factory=list)
    moves: dict[str, str] = field(default_factory=dict)  # old dotted -> new dotted (for comments)


def _put(root: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = root
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value


def _has_rule_below(dotted: str) -> bool:
    return any(key.startswith(dotted + ".") for key in RULES_BY_KEY) or dotted in (
        "custom.augmentation", "custom", "custom.grpo")


def _flatten_ops(ops: Any, res: Result, prefix: str) -> tuple[Any, list[str]]:
    if not isinstance(ops, list):
        return ops, []
    out, changes = [], []
    for i, op in enumerate(ops):
        if not isinstance(op, dict):
            out.append(op)
            continue
        flat = {k: v for k, v in op.items() if k != "params"}
        params = op.get("params")
        if isinstance(params, dict):
            if not changes or changes[-1] != "{name, params} flattened":
                changes.append("{name, params} flattened")
            for key, value in params.items():
                new_key = OP_PARAM_RENAMES.get(str(op.get("name")), {}).get(key, key)
                if new_key != key:
                    changes.append(f"{op.get('name')}.{key} -> {new_key}")
                res.moves[f"{join_index(prefix, i)}.params.{key}"] = f"{join_index(prefix, i)}.{new_key}"
                flat[new_key] = value
        out.append(flat)
    return out, changes


def _curriculum(value: Any) -> tuple[Any, list[str]]:
    if not isinstance(value, dict) or not isinstance(value.get("phases"), list):
        return value, []
    value = copy.deepcopy(value)
    changes: set[str] = set()
    for phase in value["phases"]:
        ops = phase.get("ops") if isinstance(phase, dict) else None
        for name, params in (ops or {}).items():
            renames = OP_PARAM_RENAMES.get(name, {})
            if isinstance(params, dict) and any(k in renames for k in params):
                ops[name] = {renames.get(k, k): v for k, v in params.items()}
                changes.update(f"{name}.{k} -> {renames[k]}" for k in params if k in renames)
    return value, sorted(changes)


def _record(res: Result, dotted: str, outcome: Outcome) -> None:
    for new_key, value in outcome.sets.items():
        _put(res.data, new_key, value)
    if outcome.sets:
        res.moves[dotted] = next(iter(outcome.sets))
    res.translations.append(Translation(dotted, outcome.status, outcome.note, tuple(outcome.sets)))


def _walk(node: Mapping[str, Any], prefix: str, ctx: Context, res: Result, path_map: Mapping[str, str]) -> None:
    for key, value in node.items():
        dotted = join_key(prefix, key) if prefix else str(key)
        rule = RULES_BY_KEY.get(dotted)
        if dotted == "custom.augmentation.ops":
            flat, changes = _flatten_ops(value, res, dotted)
            _put(res.data, dotted, flat)
            if changes:
                res.translations.append(Translation(dotted, "converted", "; ".join(changes), (dotted,)))
        elif dotted == "custom.augmentation_curriculum":
            phases, changes = _curriculum(value)
            _put(res.data, dotted, phases)
            if changes:
                res.translations.append(Translation(dotted, "converted", "phase ops: " + "; ".join(changes), (dotted,)))
        elif dotted == "custom.fusion_config" and isinstance(value, str) and value in path_map:
            _put(res.data, dotted, path_map[value])
            if path_map[value] != value:
                res.translations.append(Translation(dotted, "converted", f"{value} was migrated to {path_map[value]}",
                                                    (dotted,)))
        elif rule is not None and (outcome := rule.fn(value, ctx)) is not None:
            _record(res, dotted, outcome)
        elif isinstance(value, dict) and value and _has_rule_below(dotted):
            _walk(value, dotted, ctx, res, path_map)
        else:
            _put(res.data, dotted, copy.deepcopy(value))


def _entry(entry: Any, list_key: str, dotted: str, ctx: Context, res: Result) -> Any:
    if not isinstance(entry, dict):
        return entry
    out: dict[str, Any] = {}
    for key, value in entry.items():
        rule = RULES_BY_KEY.get(f"{list_key}[].{key}")
        if key in ("train_jsonl", "val_jsonl") and value is None and key in entry:
            res.translations.append(Translation(
                f"{dotted}.{key}", "untranslated", "null path: the seed file is broken here (it clears the "
                "path the base sets); write the JSONL path", (f"{dotted}.{key}",)))
            out[key] = None
        elif rule is None:
            out[key] = copy.deepcopy(value)
        else:
            outcome = rule.fn(value, ctx)
            for new_key, new_value in outcome.sets.items():
                out[new_key] = new_value
                res.moves[f"{dotted}.{key}"] = f"{dotted}.{new_key}"
            res.translations.append(Translation(f"{dotted}.{key}", outcome.status, outcome.note,
                                                tuple(f"{dotted}.{k}" for k in outcome.sets)))
    return out


def translate(data: Mapping[str, Any], ctx: Context | None = None, *, fusion: bool | None = None,
              path_map: Mapping[str, str] | None = None) -> Result:
    """Our form of one config mapping (`fusion`: a fusion config; default: detected from its keys)."""
    ctx = ctx or Context(data)
    res = Result({})
    if fusion is None:
        fusion = bool(data) and set(data) <= FUSION_KEYS and bool(set(data) & set(LIST_KEYS))
    if fusion:
        for key, value in data.items():
            if key in LIST_KEYS and isinstance(value, list):
                res.data[key] = [_entry(e, key, join_index(key, i), ctx, res) for i, e in enumerate(value)]
            else:
                res.data[key] = copy.deepcopy(value)
        return res
    _walk(data, "", ctx, res, path_map or {})
    return res


# ------------------------------------------------------------------------------------------- files


@dataclass
class FileReport:
    old: str
    new: str | None
    translations: list[Translation]
    kind: str  # training | fusion


def _old_context(path: Path, data: Mapping[str, Any]) -> Context:
    try:
        return Context(resolve_config(path).data)
    except ConfigError:  # a file that does not resolve is still migrated on its own keys
        return Context(data)


def _seed_runnable(path: Path) -> bool:
    """A runnable preset of the seed tree (its `configs/train/**` and `configs/smoke/**`)."""
    parts = path.resolve().parts
    return any(a == "configs" and b in ("train", "smoke") for a, b in pairwise(parts))


def migrate_document(path: Path, path_map: Mapping[str, str] | None = None) -> tuple[str, FileReport]:
    """(migrated YAML text, report) of one file."""
    doc = load_yaml_file(path)
    fusion = set(doc.data) <= FUSION_KEYS and bool(set(doc.data) & set(LIST_KEYS))
    ctx = _old_context(path, doc.data)
    res = translate(doc.data, ctx, fusion=fusion, path_map=path_map)
    if not fusion and _seed_runnable(path) and ctx.get("training.save_last_epoch") is None:
        _put(res.data, "training.save_last_epoch", True)
        res.translations.append(Translation(
            "training.save_last_epoch", "converted", "absent: the seed's default was true (ours is false), so it "
            "is written out", ("training.save_last_epoch",)))
    where = [Translation(t.old, t.status, t.note, t.new, doc.where(t.old)) for t in res.translations]
    comments = comments_of(path.read_text(encoding="utf-8"), doc.lines).moved(res.moves)
    text = emit(res.data, comments)
    return text, FileReport(display_path(path), None, where, "fusion" if fusion else "training")


def _seed_root(old_root: Path) -> Path:
    """The seed repository root that its config paths are relative to: the folder holding `configs/`."""
    return old_root.parent if old_root.name == "configs" else old_root


def _new_ref(new_file: Path) -> str:
    try:
        return new_file.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(new_file.resolve())


def migrate_tree(old_root: Path, new_root: Path) -> list[FileReport]:
    """Migrate every YAML file below `old_root` into the same layout below `new_root`."""
    files = sorted(p for p in old_root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    seed_root = _seed_root(old_root)
    path_map = {p.relative_to(seed_root).as_posix(): _new_ref(new_root / p.relative_to(old_root)) for p in files}
    reports = []
    for path in files:
        target = new_root / path.relative_to(old_root)
        text, report = migrate_document(path, path_map)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        report.new = display_path(target)
        reports.append(report)
    return reports


def report_markdown(reports: list[FileReport]) -> str:
    """Every translation and every setting without an equivalent, per file."""
    lines = ["# Migration report", "",
             ("Statuses: renamed / converted (written in our form), dropped (no effect here or already our "
             "behaviour), untranslated (no equivalent: left out; the note says what to write instead)."), ""]
    for report in reports:
        target = f" -> `{report.new}`" if report.new else ""
        untranslated = [t for t in report.translations if t.status == "untranslated"]
        lines += [f"## `{report.old}`{target}", "",
                  f"{len(report.translations)} translations, {len(untranslated)} without an equivalent.", ""]
        if report.translations:
            lines += ["| setting | where | status | now | note |", "|---|---|---|---|---|"]
            for t in report.translations:
                now = ", ".join(f"`{k}`" for k in t.new) or "-"
                lines.append(f"| `{t.old}` | {t.where} | {t.status} | {now} | {t.note.replace('|', '/')} |")
            lines.append("")
    return "\n".join(lines)
