"""Fusion configs: which JSONL datasets a run trains on, and in what proportion.

File shape: `extends` (same C3 machinery as training configs), `targets` and `sources`, each a
list of entries. Across the extends chain, entries merge by `name` (falling back to `dataset`):
a matching entry deep-merges into the earlier one, a new entry is appended, and an explicit
empty list replaces the whole list. Paths are repo-relative. Sampling semantics (for the data
pipeline): per epoch each target yields round(len x ratio) records; each source yields
round(ratio x total target quota) records, both without replacement while the pool lasts.

Entry options beyond the sampling: `augmentation` (this entry's train samples are augmented when
the preset enables augmentation) and `curriculum` (the augmentation follows
`custom.augmentation_curriculum`; false = the base ops for the whole run), `max_objects_per_image`
(sources only: train samples keep their first K objects, in file order), per-entry prompts.
`dataset: chat` marks a chat-format member: records are `{"messages": [...]}` conversations,
text-only, trained as written (no prompt, target rendering or augmentation).
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from .diagnostics import pydantic_problems, unknown_key_problem
from .errors import ConfigError, Problem
from .extends import EXTENDS_KEY, linearize
from .paths import display_path, locate_config_file, resolve_repo_path
from .schema_base import PositiveInt, RepoPath, StrictModel
from .yaml_io import YamlDocument, join_index, load_yaml_file

LIST_KEYS = ("targets", "sources")
JSONL_KEYS = ("train_jsonl", "val_jsonl")
CHAT_DATASET = "chat"
TOP_LEVEL_KEYS = (EXTENDS_KEY, *LIST_KEYS)


class _FusionEntry(StrictModel):
    name: Annotated[str, Field(min_length=1)]
    dataset: str | None = None
    train_jsonl: RepoPath
    val_jsonl: RepoPath | None = None
    ratio: Annotated[float, Field(ge=0.0)] = 1.0
    mode: Literal["dense", "summary"] = "dense"
    user_prompt: str | None = None
    summary_prompt: str | None = None
    curriculum: bool = True

    @property
    def is_chat(self) -> bool:
        return self.dataset == CHAT_DATASET

    @model_validator(mode="before")
    @classmethod
    def _chat_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("dataset") == CHAT_DATASET and "augmentation" not in data:
            data = {**data, "augmentation": False}  # text-only: never augmented
        return data

    @model_validator(mode="after")
    def _chat_rules(self) -> _FusionEntry:
        if not self.is_chat:
            return self
        if getattr(self, "augmentation", False):
            raise ValueError("a chat member (`dataset: chat`) is text-only: set `augmentation: false`")
        written = [k for k in ("user_prompt", "summary_prompt") if getattr(self, k) is not None]
        if written or getattr(self, "max_objects_per_image", None) is not None:
            keys = written + (["max_objects_per_image"] if getattr(self, "max_objects_per_image", None) else [])
            raise ValueError(f"a chat member (`dataset: chat`) trains its records' messages as written; "
                             f"{', '.join(keys)} do not apply: remove them")
        return self

    @property
    def train_path(self) -> Path:
        return resolve_repo_path(self.train_jsonl)

    @property
    def val_path(self) -> Path | None:
        return resolve_repo_path(self.val_jsonl) if self.val_jsonl else None


class FusionTarget(_FusionEntry):
    """A dataset the run is about; its val_jsonl feeds evaluation."""

    augmentation: bool = True


class FusionSource(_FusionEntry):
    """An auxiliary dataset mixed in at ratio x (total target quota) per epoch."""

    augmentation: bool = False
    max_objects_per_image: PositiveInt | None = None


class _FusionFile(StrictModel):
    targets: Annotated[list[FusionTarget], Field(min_length=1)]
    sources: list[FusionSource] = Field(default_factory=list)


@dataclass(frozen=True)
class FusionConfig:
    path: Path
    chain: tuple[str, ...]
    targets: tuple[FusionTarget, ...]
    sources: tuple[FusionSource, ...]
    # file:line that wrote each entry's JSONL path: {"<entry name>.train_jsonl": "configs/fusion/x.yaml:7"}
    wheres: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def entries(self) -> tuple[FusionTarget | FusionSource, ...]:
        return (*self.targets, *self.sources)

    def to_dict(self) -> dict[str, Any]:
        """The resolved fusion config (repo-relative paths), for inspection and diffs."""
        return {
            "targets": [t.model_dump() for t in self.targets],
            "sources": [s.model_dump() for s in self.sources],
        }


@dataclass
class _Entry:
    data: dict[str, Any]
    writers: list[tuple[YamlDocument, str]]  # (file, dotted path of the entry in that file)
    appended: bool  # first written by an overlay, after earlier files had defined this list


def _deep_merge(dst: dict[str, Any], src: dict[str, Any]) -> None:
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            _deep_merge(dst[key], value)
        else:
            dst[key] = copy.deepcopy(value)


def _merge_list(
    merged: list[_Entry], doc: YamlDocument, list_key: str, problems: list[Problem]
) -> list[_Entry]:
    raw = doc.data[list_key]
    if raw is None or raw == []:
        return []
    if not isinstance(raw, list):
        problems.append(Problem("must be a list of entries", key=list_key, where=doc.where(list_key)))
        return merged
    seen: set[str] = set()
    base_keys = [e.data.get("name") or e.data.get("dataset") for e in merged]
    for i, item in enumerate(raw):
        dotted = join_index(list_key, i)
        if not isinstance(item, dict):
            problems.append(Problem("each entry must be a mapping", key=dotted, where=doc.where(dotted)))
            continue
        key = item.get("name") or item.get("dataset")
        if not isinstance(key, str) or not key:
            problems.append(Problem(
                "entry needs a `name` (or a `dataset` to fall back on) to merge by",
                key=dotted, where=doc.where(dotted),
            ))
            continue
        if key in seen:
            problems.append(Problem(f"entry {key!r} appears twice in this file", key=dotted, where=doc.where(dotted)))
            continue
        seen.add(key)
        match = next((e for e in merged if (e.data.get("name") or e.data.get("dataset")) == key), None)
        if match is None:
            merged.append(_Entry(copy.deepcopy(item), [(doc, dotted)], appended=bool(base_keys)))
        else:
            _deep_merge(match.data, item)
            match.writers.append((doc, dotted))
    return merged


def _entry_where(entry: _Entry, field: str | None) -> str:
    for doc, dotted in reversed(entry.writers):
        key = f"{dotted}.{field}" if field else dotted
        if key in doc.lines:
            return doc.where(key)
    doc, dotted = entry.writers[-1]
    return doc.where(dotted)


def load_fusion_config(path: str | Path) -> FusionConfig:
    """Resolve and validate a fusion config; raises ConfigError listing every problem."""
    root = locate_config_file(path)
    docs = linearize(root, load_yaml_file)
    problems: list[Problem] = []
    lists: dict[str, list[_Entry]] = {k: [] for k in LIST_KEYS}
    for doc in docs:
        for key in doc.data:
            if key not in TOP_LEVEL_KEYS:
                hint = "Fusion configs use `extends` for inheritance." if key == "inherit" else None
                problems.append(unknown_key_problem(str(key), TOP_LEVEL_KEYS, doc.where(str(key)), hint))
        for list_key in LIST_KEYS:
            if list_key in doc.data:
                lists[list_key] = _merge_list(lists[list_key], doc, list_key, problems)
    if problems:
        raise ConfigError(problems, subject=display_path(root))

    for entries in lists.values():
        for entry in entries:
            entry.data.setdefault("name", entry.data.get("dataset"))
    data = {k: [e.data for e in v] for k, v in lists.items()}
    try:
        parsed = _FusionFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_fusion_problems(exc, lists), subject=display_path(root)) from None
    names = [e.name for e in (*parsed.targets, *parsed.sources)]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError([Problem(
            f"entry names must be unique across targets and sources; repeated: {', '.join(dupes)}",
            where=display_path(root),
        )], subject=display_path(root))
    wheres = {f"{e.data['name']}.{key}": _entry_where(e, key)
              for entries in lists.values() for e in entries for key in JSONL_KEYS}
    return FusionConfig(
        path=root,
        chain=tuple(d.display for d in docs),
        targets=tuple(parsed.targets),
        sources=tuple(parsed.sources),
        wheres=wheres,
    )


def _did_you_mean(path: Path) -> str:
    """A close existing name next to a missing path (its nearest existing folder), or ''."""
    missing = [path.name]
    folder = path.parent
    while not folder.is_dir() and folder != folder.parent:
        missing.insert(0, folder.name)
        folder = folder.parent
    try:
        names = [p.name for p in folder.iterdir()]
    except OSError:
        return ""
    close = difflib.get_close_matches(missing[0], names, n=1, cutoff=0.6)
    if not close:
        return ""
    guess = display_path(folder / close[0] / Path(*missing[1:])) if len(missing) > 1 else display_path(folder / close[0])
    return f" Did you mean {guess}?"


def jsonl_path_problems(fusion: FusionConfig, *, typos_only: bool = False) -> list[Problem]:
    """Every entry's `train_jsonl` / `val_jsonl` that is not a file, at the fusion file:line that wrote it.
    `typos_only`: only those that look mistyped (their folder exists, or a close name does), not data that
    is simply absent from this machine (`validate` on a laptop; the run itself checks every path)."""
    problems: list[Problem] = []
    for entry in fusion.entries:
        for key, path in (("train_jsonl", entry.train_path), ("val_jsonl", entry.val_path)):
            if path is None or path.is_file():
                continue
            relative = "" if Path(getattr(entry, key)).is_absolute() else " (paths are relative to the repository root)"
            hint = _did_you_mean(path)
            if typos_only and not (hint or path.parent.is_dir()):
                continue
            what = "is a directory, not a .jsonl file" if path.is_dir() else "does not exist"
            problems.append(Problem(
                f"{display_path(path)} {what}{relative}.{hint} "
                f"Fix the path in the fusion config, or create the file (python -m src.datasets.synthetic builds "
                f"the synthetic sets under artifacts/data).",
                key=f"{entry.name}.{key}", where=fusion.wheres.get(f"{entry.name}.{key}", display_path(fusion.path))))
    return problems


def _locate(lists: dict[str, list[_Entry]], dotted: str) -> tuple[_Entry | None, str | None]:
    """The merged entry (and its field) that a dotted path such as `targets[1].ratio` names."""
    list_key, _, rest = dotted.partition("[")
    if list_key not in lists or not rest:
        return None, None
    index = int(rest.partition("]")[0])
    field = rest.partition("].")[2].split(".")[0].split("[")[0] or None
    entries = lists[list_key]
    return (entries[index] if index < len(entries) else None), field


def _fusion_problems(exc: ValidationError, lists: dict[str, list[_Entry]]) -> list[Problem]:
    """Pydantic errors with the file:line of the entry (or field) that caused them."""

    def where(dotted: str) -> str | None:
        entry, field = _locate(lists, dotted)
        return _entry_where(entry, field) if entry is not None else None

    problems: list[Problem] = []
    for problem in pydantic_problems(exc, _FusionFile, "", where):
        entry, _ = _locate(lists, problem.key or "")
        message = problem.message
        if entry is not None and entry.appended and "missing" in message:
            name = str(entry.data.get("name"))
            known = [str(e.data.get("name")) for e in lists[(problem.key or "").partition("[")[0]]
                     if e is not entry and not e.appended]
            close = difflib.get_close_matches(name, known, n=1)
            message += (
                f" Entry {name!r} matches no entry of the files it extends (known: {', '.join(known)})"
                + (f"; did you mean {close[0]!r}?" if close else ".")
            )
        problems.append(Problem(message, key=problem.key, where=problem.where))
    return problems
