"""Checker for docs/audit/PIPELINE_MAP.md: every module, function, file and YAML key it names exists.

The map is Markdown with machine-readable tables (see the map's "How to read" section):

* a ``| preset | entrypoint | config |`` table declaring the presets by short name;
* one ``## Stage: <id> - <title>`` section per pipeline stage, each with a
  ``| kind | ref | presets | role |`` table. ``kind`` is ``module`` (ref ``src.pkg.mod`` or
  ``src.pkg.mod:name``, ``name`` may be ``Class.method``), ``failfast`` (same form: where a violation
  raises), ``file`` (a repo-relative path) or ``key`` (a dotted YAML key path of the resolved config);
  ``presets`` lists the presets in which the key must be set (resolved, base layers included), or
  ``schema`` for a key the presets leave at its schema default (it must still be a valid key).

Nothing here imports torch, transformers or ms-swift: modules are located with
``importlib.machinery.PathFinder`` on the package folders (no parent package is imported) and names
are looked up in the module's AST. Keys are checked against the ms-swift field snapshot
(``src.config.swift_fields``) for ms-swift sections and the pydantic models for ``custom``,
``stage2_ab`` and ``rollout_matching``.
"""

from __future__ import annotations

import ast
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Any

from src.config.paths import REPO_ROOT

REQUIRED_STAGES: tuple[str, ...] = (
    "data_ingestion", "chat_template", "packing", "trainer_loss", "evaluation_metrics",
    "checkpoint_artifacts", "rollout_server",
)
KINDS = ("module", "failfast", "file", "key")
_CELL_TOKEN = re.compile(r"`([^`]+)`")
_STAGE = re.compile(r"^##\s+Stage:\s+([a-z_]+)\b")


@dataclass(frozen=True)
class Entry:
    stage: str
    kind: str
    ref: str
    presets: tuple[str, ...]
    line: int


@dataclass
class PipelineMap:
    presets: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (entrypoint, config)
    entries: list[Entry] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _token(cell: str) -> str | None:
    m = _CELL_TOKEN.search(cell)
    return m.group(1).strip() if m else None


def parse_map(text: str) -> PipelineMap:
    pm = PipelineMap()
    stage: str | None = None
    header: list[str] | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = _STAGE.match(line)
        if m:
            stage, header = m.group(1), None
            pm.stages.append(stage)
            continue
        if line.startswith("#"):
            stage = None if line.startswith("## ") else stage
            header = None
            continue
        if not line.lstrip().startswith("|"):
            header = None
            continue
        cells = _cells(line)
        if header is None:
            header = [c.lower() for c in cells]
            continue
        if all(set(c) <= set("-: ") for c in cells):
            continue
        row = dict(zip(header, cells))
        if header[:3] == ["preset", "entrypoint", "config"]:
            name = _token(row["preset"]) or row["preset"]
            pm.presets[name] = (_token(row["entrypoint"]) or "", _token(row["config"]) or "")
        elif header[:2] == ["kind", "ref"] and stage is not None:
            presets = tuple(p.strip() for p in re.sub(r"[`]", "", row.get("presets", "")).split(",") if p.strip())
            pm.entries.append(Entry(stage, row["kind"].strip("` ").lower(), _token(row["ref"]) or row["ref"],
                                    presets, lineno))
    return pm


# ---------------------------------------------------------------------------------------- modules


def module_file(dotted: str, root: Path = REPO_ROOT) -> Path | None:
    """The source file of ``dotted`` (a ``src.*`` module or package), found without importing anything."""
    parts = dotted.split(".")
    search = [str(root)]
    spec = None
    for i, part in enumerate(parts):
        spec = PathFinder.find_spec(part, search)
        if spec is None:
            return None
        if i < len(parts) - 1:
            if not spec.submodule_search_locations:
                return None
            search = list(spec.submodule_search_locations)
    return Path(spec.origin) if spec is not None and spec.origin else None


def _defined(tree: ast.Module, name: str) -> bool:
    scope: list[ast.stmt] = tree.body
    for part in name.split("."):
        found = None
        for node in scope:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == part:
                found = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == part for t in targets):
                    found = node
        if found is None:
            return False
        scope = found.body if isinstance(found, ast.ClassDef) else []
    return True


def check_module_ref(ref: str, root: Path = REPO_ROOT) -> str | None:
    module, _, name = ref.partition(":")
    if not module.startswith("src."):
        return f"`{ref}`: only project modules (src.*) can be owners"
    path = module_file(module, root)
    if path is None:
        return f"`{ref}`: module {module} does not exist"
    if name:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if not _defined(tree, name):
            return f"`{ref}`: {name} is not defined in {path.relative_to(root)}"
    return None


# ---------------------------------------------------------------------------------------- keys


def _model_field(model: Any, name: str) -> Any:
    fields = getattr(model, "model_fields", None)
    if not isinstance(fields, Mapping) or name not in fields:
        return None
    return fields[name]


def _submodel(annotation: Any) -> Any:
    """The pydantic model inside ``annotation`` (Optional[...] / Annotated[...] unwrapped), if any."""
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) or origin is typing.Annotated:
        for arg in typing.get_args(annotation):
            sub = _submodel(arg)
            if sub is not None:
                return sub
    return None


def key_problem(path: str) -> str | None:
    """None when ``path`` is a valid key of the training-config schema, else why not."""
    from src.config.schema_custom import CustomConfig
    from src.config.schema_stage2 import RolloutMatchingConfig, Stage2ABConfig
    from src.config.swift_fields import SWIFT_SECTIONS, section_keys

    parts = path.split(".")
    section = parts[0]
    if path == "global_max_length":
        return None
    if section in SWIFT_SECTIONS:
        if len(parts) != 2:
            return f"`{path}`: ms-swift section keys are `{section}.<field>`"
        if parts[1] not in section_keys(section):
            return f"`{path}`: {parts[1]!r} is not an ms-swift 4.6.0 `{section}` field (src/config/swift_fields.json)"
        return None
    models = {"custom": CustomConfig, "stage2_ab": Stage2ABConfig, "rollout_matching": RolloutMatchingConfig}
    if section not in models:
        return f"`{path}`: unknown section {section!r}"
    model: Any = models[section]
    for i, part in enumerate(parts[1:], start=1):
        if model is None:
            return f"`{path}`: {'.'.join(parts[:i])} has no sub-keys"
        info = _model_field(model, part)
        if info is None:
            return f"`{path}`: {part!r} is not a field of {model.__name__}"
        model = _submodel(info.annotation)
    return None


def lookup(resolved: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    node: Any = resolved
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


# ---------------------------------------------------------------------------------------- check


def check_map(pm: PipelineMap, resolved_presets: Mapping[str, Mapping[str, Any]] | None = None,
              root: Path = REPO_ROOT, where: str = "docs/audit/PIPELINE_MAP.md") -> list[str]:
    """Every problem of the map (empty when it is accurate). ``resolved_presets`` maps preset names to
    resolved config dicts (loaded from the map's preset table when omitted)."""
    problems: list[str] = []
    if not pm.presets:
        problems.append(f"{where}: no `| preset | entrypoint | config |` table")
    for name, (entry, config) in pm.presets.items():
        for rel in (entry, config):
            if not rel or not (root / rel).is_file():
                problems.append(f"{where}: preset {name}: file {rel!r} does not exist")
    if resolved_presets is None:
        from src.config import load_training_config

        resolved_presets = {}
        for name, (_, config) in pm.presets.items():
            if config and (root / config).is_file():
                resolved_presets[name] = load_training_config(root / config).resolved
    for stage in REQUIRED_STAGES:
        kinds = {e.kind for e in pm.entries if e.stage == stage}
        if stage not in pm.stages:
            problems.append(f"{where}: stage {stage!r} is missing")
        elif not ({"module", "failfast"} & kinds and "key" in kinds):
            problems.append(f"{where}: stage {stage!r} needs at least one owning module and one YAML key path")
    for e in pm.entries:
        at = f"{where}:{e.line} [{e.stage}]"
        if e.kind not in KINDS:
            problems.append(f"{at}: unknown kind {e.kind!r} (one of {', '.join(KINDS)})")
        elif e.kind in ("module", "failfast"):
            msg = check_module_ref(e.ref, root)
            if msg:
                problems.append(f"{at}: {msg}")
        elif e.kind == "file":
            if not (root / e.ref).exists():
                problems.append(f"{at}: `{e.ref}`: file does not exist")
        else:
            msg = key_problem(e.ref)
            if msg:
                problems.append(f"{at}: {msg}")
                continue
            if not e.presets:
                problems.append(f"{at}: `{e.ref}`: name the presets that set it, or `schema`")
            for preset in e.presets:
                if preset == "schema":
                    continue
                if preset not in resolved_presets:
                    problems.append(f"{at}: `{e.ref}`: unknown preset {preset!r}")
                elif not lookup(resolved_presets[preset], e.ref)[0]:
                    problems.append(f"{at}: `{e.ref}` is not set in preset {preset} "
                                    f"({pm.presets.get(preset, ('', '?'))[1]}); write `schema` if it is a default")
    return problems


def check_map_file(path: Path | str, resolved_presets: Mapping[str, Mapping[str, Any]] | None = None,
                   root: Path = REPO_ROOT) -> list[str]:
    path = Path(path)
    where = str(path.relative_to(root)) if path.is_absolute() and root in path.parents else str(path)
    return check_map(parse_map(path.read_text(encoding="utf-8")), resolved_presets, root, where)


__all__ = [
    "REQUIRED_STAGES",
    "Entry",
    "PipelineMap",
    "check_map",
    "check_map_file",
    "check_module_ref",
    "key_problem",
    "lookup",
    "module_file",
    "parse_map",
]
