"""Deep merge of config layers with per-key origins.

Mappings merge key by key; lists, scalars and explicit nulls replace. Every leaf (a non-mapping
value, or an empty mapping) remembers the origin that set it and the origins it overrode.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .yaml_io import join_key

OriginKind = Literal["file", "override", "proxy"]


@dataclass(frozen=True)
class Origin:
    """Who set a value: a file line, a command-line override, or a proxy rule."""

    kind: OriginKind
    source: str  # file: repo-relative path; override: the `key=value` text; proxy: the rule name
    line: int | None = None

    def __str__(self) -> str:
        if self.kind == "file":
            return f"{self.source}:{self.line}" if self.line else self.source
        return f"{self.kind}:{self.source}"


@dataclass
class MergeState:
    """The merged data so far, with origins of its leaves and what each leaf overrode."""

    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)
    history: dict[str, list[Origin]] = field(default_factory=dict)

    def apply(self, layer: dict[str, Any], origin_for: Callable[[str], Origin]) -> None:
        """Merge `layer` on top; `origin_for(dotted)` names the origin of each leaf it writes."""
        for key, value in layer.items():
            self._set(self.data, key, value, join_key("", key), origin_for, [])

    def _drop_subtree(self, dotted: str) -> list[Origin]:
        """Forget the leaves at or below `dotted`; return their origins (histories first)."""
        displaced: list[Origin] = []
        for leaf in [k for k in self.origins if k == dotted or k.startswith((dotted + ".", dotted + "["))]:
            displaced.extend(self.history.pop(leaf, []))
            displaced.append(self.origins.pop(leaf))
        return displaced

    def _set(
        self,
        dst: dict[str, Any],
        key: str,
        value: Any,
        dotted: str,
        origin_for: Callable[[str], Origin],
        inherited: list[Origin],
    ) -> None:
        if isinstance(value, dict):
            existing = dst.get(key)
            if isinstance(existing, dict) and not value:
                return  # merging an empty mapping changes nothing
            displaced = inherited + self._drop_subtree(dotted) if (
                not isinstance(existing, dict) or dotted in self.origins
            ) else list(inherited)
            if not isinstance(existing, dict):
                dst[key] = {}
            if not value:
                self.origins[dotted] = origin_for(dotted)
                self.history[dotted] = displaced
                return
            for sub_key, sub_value in value.items():
                self._set(dst[key], sub_key, sub_value, join_key(dotted, sub_key), origin_for, displaced)
            return
        displaced = inherited + self._drop_subtree(dotted)
        dst[key] = copy.deepcopy(value)
        self.origins[dotted] = origin_for(dotted)
        self.history[dotted] = displaced
