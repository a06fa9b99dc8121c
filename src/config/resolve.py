"""Layered resolution: extends chain + deep merge + command-line overrides, with origins.

`resolve_config(path, overrides)` is the structural half of loading (no schema): it returns the
merged mapping, the ordered chain of files, and for each leaf key the file:line or override
that set it plus the origins it overrode. The inspect/diff tools build on it directly.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from src.constants import MISSING

from .errors import ConfigError, Problem
from .extends import EXTENDS_KEY, linearize
from .merge import MergeState, Origin
from .paths import display_path, locate_config_file
from .yaml_io import YamlDocument, load_yaml_file, parse_yaml_value

_OVERRIDE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*$")


def lookup(data: Mapping[str, Any], dotted: str, default: Any = MISSING) -> Any:
    """The value at `a.b.c` in nested mappings, or `default` when a part is absent."""
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


@dataclass(frozen=True)
class Override:
    """One command-line override `a.b.c=value` (value parsed as YAML)."""

    text: str
    key: str
    value: Any

    def as_layer(self) -> dict[str, Any]:
        layer: Any = self.value
        for part in reversed(self.key.split(".")):
            layer = {part: layer}
        return layer


def parse_override(text: str) -> Override:
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not _OVERRIDE_KEY.match(key):
        raise ConfigError([Problem(
            "an override must look like `section.key=value` (dotted key, '=', YAML value)",
            where=f"override:{text}",
        )])
    if key.split(".")[0] == EXTENDS_KEY:
        raise ConfigError([Problem("`extends` cannot be overridden", where=f"override:{text}")])
    try:
        value = parse_yaml_value(raw)
    except ConfigError as exc:
        raise ConfigError([Problem(p.message, where=f"override:{text}") for p in exc.problems]) from None
    return Override(text=text, key=key, value=value)


@dataclass(frozen=True)
class ResolvedConfig:
    """The merged config and where each value came from.

    `chain`: files in merge order (lowest precedence first), repo-relative where possible.
    `origins`: leaf dotted key -> the origin that set it. `history`: leaf -> origins it overrode
    (oldest first). Leaves are non-mapping values (lists are leaves) and empty mappings.
    """

    path: Path
    chain: tuple[str, ...]
    data: dict[str, Any]
    origins: Mapping[str, Origin]
    history: Mapping[str, tuple[Origin, ...]]
    overrides: tuple[Override, ...] = ()
    documents: Mapping[str, YamlDocument] = field(default_factory=dict, repr=False)

    @property
    def display(self) -> str:
        return display_path(self.path)

    def get(self, dotted: str, default: Any = MISSING) -> Any:
        return lookup(self.data, dotted, default)

    def origins_under(self, dotted: str) -> list[Origin]:
        """Distinct origins of the value at `dotted`: its own, an enclosing leaf's (inside a list),
        or those of every leaf below it (for a mapping), in first-seen order."""
        if dotted in self.origins:
            return [self.origins[dotted]]
        probe = dotted
        while True:
            cut = max(probe.rfind("."), probe.rfind("["))
            if cut <= 0:
                break
            probe = probe[:cut]
            if probe in self.origins:
                return [self.origins[probe]]
        found: list[Origin] = []
        for key, origin in self.origins.items():
            if key.startswith((dotted + ".", dotted + "[")) and origin not in found:
                found.append(origin)
        return found

    def explain(self) -> dict[str, dict[str, Any]]:
        """Key-sorted `{leaf: {"origin": "file:line" | "override:..." | "proxy:...", "overrode": [...]}}`."""
        return {
            key: {"origin": str(self.origins[key]), "overrode": [str(o) for o in self.history.get(key, ())]}
            for key in sorted(self.origins)
        }

    def where(self, dotted: str) -> str:
        """Human-readable origin(s) of `dotted`, with the exact line of the key in each file."""
        parts: list[str] = []
        for origin in self.origins_under(dotted):
            doc = self.documents.get(origin.source) if origin.kind == "file" else None
            text = doc.where(dotted) if doc is not None and dotted in doc.lines else str(origin)
            if text not in parts:
                parts.append(text)
        return ", ".join(parts) if parts else self.display


def _file_origin(doc: YamlDocument):
    source = doc.display

    def origin_for(dotted: str) -> Origin:
        return Origin("file", source, doc.lines.get(dotted))

    return origin_for


def resolve_config(path: str | Path, overrides: Iterable[str] = ()) -> ResolvedConfig:
    """Resolve `path` (relative to the working directory, else to the repository root)."""
    parsed = tuple(parse_override(o) for o in overrides)
    root = locate_config_file(path)
    docs = linearize(root, load_yaml_file)
    state = MergeState()
    for doc in docs:
        layer = {k: v for k, v in doc.data.items() if k != EXTENDS_KEY}
        state.apply(layer, _file_origin(doc))
    for override in parsed:
        origin = Origin("override", override.text)
        state.apply(override.as_layer(), lambda _dotted, o=origin: o)
    return ResolvedConfig(
        path=root,
        chain=tuple(doc.display for doc in docs),
        data=state.data,
        origins=dict(state.origins),
        history={k: tuple(v) for k, v in state.history.items()},
        overrides=parsed,
        documents={doc.display: doc for doc in docs},
    )


def with_values(resolved: ResolvedConfig, values: Mapping[str, Any], origin: Origin) -> ResolvedConfig:
    """A copy of `resolved` with `values` (dotted key -> value) applied as one more layer."""
    state = MergeState(
        data=copy.deepcopy(resolved.data),
        origins=dict(resolved.origins),
        history={k: list(v) for k, v in resolved.history.items()},
    )
    for dotted, value in values.items():
        layer: Any = value
        for part in reversed(dotted.split(".")):
            layer = {part: layer}
        state.apply(layer, lambda _d: origin)
    return ResolvedConfig(
        path=resolved.path,
        chain=resolved.chain,
        data=state.data,
        origins=state.origins,
        history={k: tuple(v) for k, v in state.history.items()},
        overrides=resolved.overrides,
        documents=resolved.documents,
    )

