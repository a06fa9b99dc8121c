"""`inspect_config.py migrate`: the seed system's configs -> ours, with a report of every translation.

`translate(data, ctx)` applies `seed_table` to one mapping (a file's keys, or a whole resolved
config for the parity diff) and returns our mapping plus one `Translation` per seed setting it
touched: renamed, converted, dropped (no effect / already our behaviour) or untranslated (no
equivalent; left out, with the reason and what to write instead). Nothing is guessed silently:
every setting that is not written unchanged appears in the report.

`migrate_document` / `migrate_tree` write the migrated YAML (comments kept, `yaml_emit`) and return the
report; the paths the seed wrote (`extends`, `custom.fusion_config`, fusion entries' JSONL paths) are
rewritten by `seed_paths` to the migrated files, or back into the seed repository, and reported.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from src.config.errors import ConfigError
from src.config.extends import EXTENDS_KEY
from src.config.fusion import JSONL_KEYS, LIST_KEYS
from src.config.paths import display_path
from src.config.resolve import resolve_config
from src.config.yaml_io import join_index, join_key, load_yaml_file
from src.constants import MISSING

from .seed_paths import PathPlan, Rewrite, SeedLayout
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
    path: str = ""  # a path the seed wrote, rewritten by seed_paths: where it points now (Rewrite.to)


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


def _noted(res: Result, dotted: str, rewrite: Rewrite) -> bool:
    """Report a rewritten path; whether it has a value to write (else it is left out)."""
    written = rewrite.value is not MISSING
    res.translations.append(Translation(dotted, rewrite.status, rewrite.note, (dotted,) if written else (), path=rewrite.to))
    return written


def _walk(node: Mapping[str, Any], prefix: str, ctx: Context, res: Result, paths: PathPlan | None) -> None:
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
        elif dotted == "custom.fusion_config" and paths and (rewrite := paths.fusion_config(value)) is not None:
            if _noted(res, dotted, rewrite):
                _put(res.data, dotted, rewrite.value)
        elif rule is not None and (outcome := rule.fn(value, ctx)) is not None:
            _record(res, dotted, outcome)
        elif isinstance(value, dict) and value and _has_rule_below(dotted):
            _walk(value, dotted, ctx, res, paths)
        else:
            _put(res.data, dotted, copy.deepcopy(value))


def _entry(entry: Any, list_key: str, dotted: str, ctx: Context, res: Result, paths: PathPlan | None) -> Any:
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
        elif key in JSONL_KEYS and paths and (rewrite := paths.data(value)) is not None:
            if _noted(res, f"{dotted}.{key}", rewrite):
                out[key] = rewrite.value
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


def _extends(data: Mapping[str, Any], res: Result, paths: PathPlan | None, source: Path | None) -> dict[str, Any]:
    """`data` with its `extends` pointing where the migrated file needs it (`seed_paths`)."""
    if paths is None or source is None or EXTENDS_KEY not in data:
        return dict(data)
    value, rewrites = paths.extends(data[EXTENDS_KEY], source)
    for rewrite in rewrites:
        _noted(res, EXTENDS_KEY, rewrite)
    return {**data, EXTENDS_KEY: value}


def translate(data: Mapping[str, Any], ctx: Context | None = None, *, fusion: bool | None = None,
              paths: PathPlan | None = None, source: Path | None = None) -> Result:
    """Our form of one config mapping (`fusion`: a fusion config; default: detected from its keys).
    With `paths` (and the file's `source` for `extends`) the seed's paths are rewritten (`seed_paths`)."""
    ctx = ctx or Context(data)
    res = Result({})
    if fusion is None:
        fusion = bool(data) and set(data) <= FUSION_KEYS and bool(set(data) & set(LIST_KEYS))
    data = _extends(data, res, paths, source)
    if fusion:
        for key, value in data.items():
            if key in LIST_KEYS and isinstance(value, list):
                res.data[key] = [_entry(e, key, join_index(key, i), ctx, res, paths) for i, e in enumerate(value)]
            else:
                res.data[key] = copy.deepcopy(value)
        return res
    _walk(data, "", ctx, res, paths)
    return res


# ------------------------------------------------------------------------------------------- files


@dataclass
class FileReport:
    old: str
    new: str | None
    translations: list[Translation]
    kind: str  # training | fusion
    runnable: bool = False  # a preset under the seed's configs/train or configs/smoke


def _old_context(path: Path, data: Mapping[str, Any]) -> Context:
    try:
        return Context(resolve_config(path).data)
    except ConfigError:  # a file that does not resolve is still migrated on its own keys
        return Context(data)


def _seed_runnable(path: Path, layout: SeedLayout) -> bool:
    """A runnable preset of the seed tree (its `configs/train/**` and `configs/smoke/**`)."""
    parts = path.resolve().parts
    inside = parts[len(layout.configs.parts):] if parts[:len(layout.configs.parts)] == layout.configs.parts else ()
    return inside[:1] in (("train",), ("smoke",))


def migrate_document(path: Path, paths: PathPlan | None = None) -> tuple[str, FileReport]:
    """(migrated YAML text, report) of one file (`paths`: default, the file's seed tree, nothing migrated)."""
    doc = load_yaml_file(path)
    fusion = set(doc.data) <= FUSION_KEYS and bool(set(doc.data) & set(LIST_KEYS))
    ctx = _old_context(path, doc.data)
    paths = paths or PathPlan(SeedLayout.of(path))
    res = translate(doc.data, ctx, fusion=fusion, paths=paths, source=path)
    runnable = not fusion and _seed_runnable(path, paths.layout)
    if runnable and ctx.get("training.save_last_epoch") is None:
        _put(res.data, "training.save_last_epoch", True)
        res.translations.append(Translation(
            "training.save_last_epoch", "converted", "absent: the seed's default was true (ours is false), so it "
            "is written out", ("training.save_last_epoch",)))
    where = [replace(t, where=doc.where(t.old)) for t in res.translations]
    comments = comments_of(path.read_text(encoding="utf-8"), doc.lines).moved(res.moves)
    text = emit(res.data, comments)
    return text, FileReport(display_path(path), None, where, "fusion" if fusion else "training", runnable)


def migrate_tree(old_root: Path, new_root: Path) -> list[FileReport]:
    """Migrate every YAML file below `old_root` into the same layout below `new_root`."""
    files = sorted(p for p in old_root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    plan = PathPlan(SeedLayout.of(old_root), {p.resolve(): new_root / p.relative_to(old_root) for p in files})
    reports = []
    for path in files:
        target = new_root / path.relative_to(old_root)
        text, report = migrate_document(path, plan)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        report.new = display_path(target)
        reports.append(report)
    return reports
