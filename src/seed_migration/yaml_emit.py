"""Block-style YAML writing with comments carried over from the file a config was migrated from.

PyYAML drops comments; the migration keeps them by reading them from the old text (`comments_of`:
the comment lines right above each key and a comment at the end of its line) and writing them
back at the key's new dotted path (`emit`). Small leaf mappings are written in flow style.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from src.config.yaml_io import join_index, join_key

FLOW_MAX_KEYS = 6


@dataclass
class Comments:
    header: list[str] = field(default_factory=list)
    above: dict[str, list[str]] = field(default_factory=dict)
    inline: dict[str, str] = field(default_factory=dict)

    def moved(self, moves: Mapping[str, str]) -> Comments:
        """The same comments at new paths (`moves`: old -> new; unlisted paths keep theirs)."""
        out = Comments(list(self.header))
        for key, lines in self.above.items():
            out.above.setdefault(moves.get(key, key), []).extend(lines)
        for key, text in self.inline.items():
            out.inline[moves.get(key, key)] = text
        return out


def _inline_comment(line: str) -> str | None:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and i > 0 and line[i - 1] in " \t":
            return line[i:].strip()
    return None


def comments_of(text: str, lines: Mapping[str, int]) -> Comments:
    rows = text.splitlines()
    comments = Comments()
    first = min(lines.values(), default=len(rows) + 1)
    for row in rows[: first - 1]:
        if row.strip().startswith("#"):
            comments.header.append(row.strip())
    owner: dict[int, str] = {}  # a list item and its first key share a line: the item owns the comments
    for dotted, number in lines.items():
        if number not in owner or len(dotted) < len(owner[number]):
            owner[number] = dotted
    for number, dotted in owner.items():
        above: list[str] = []
        i = number - 2
        while i >= first - 1 and rows[i].strip().startswith("#"):
            above.insert(0, rows[i].strip())
            i -= 1
        if above:
            comments.above[dotted] = above
        inline = _inline_comment(rows[number - 1]) if number - 1 < len(rows) else None
        if inline:
            comments.inline[dotted] = inline
    return comments


def _scalar(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, sort_keys=False, width=10**6)
    return re.sub(r"\n\.\.\.\n?$", "", text).strip()


def _is_leafy(value: Any) -> bool:
    return not isinstance(value, (dict, list)) or (
        isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value))


def _flow_ok(value: dict, depth: int) -> bool:
    return depth >= 2 and 0 < len(value) <= FLOW_MAX_KEYS and all(_is_leafy(v) for v in value.values())


class _Writer:
    def __init__(self, comments: Comments) -> None:
        self.comments = comments
        self.out: list[str] = []

    def _above(self, dotted: str, indent: int) -> None:
        for line in self.comments.above.get(dotted, []):
            self.out.append(" " * indent + line)

    def _line(self, text: str, dotted: str) -> None:
        inline = self.comments.inline.get(dotted)
        self.out.append(text + (f"  {inline}" if inline else ""))

    def mapping(self, data: Mapping[str, Any], prefix: str, indent: int, depth: int, first_prefix: str = "") -> None:
        for n, (key, value) in enumerate(data.items()):
            dotted = join_key(prefix, key) if prefix else str(key)
            lead = first_prefix if n == 0 and first_prefix else " " * indent
            if not (n == 0 and first_prefix):
                self._above(dotted, indent)
            head = f"{lead}{_scalar(key) if not isinstance(key, str) else _key(key)}:"
            self.value(head, value, dotted, indent, depth)

    def value(self, head: str, value: Any, dotted: str, indent: int, depth: int) -> None:
        if isinstance(value, dict) and value and not _flow_ok(value, depth):
            self._line(head, dotted)
            self.mapping(value, dotted, indent + 2, depth + 1)
        elif isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
            self._line(head, dotted)
            for i, item in enumerate(value):
                item_key = join_index(dotted, i)
                self._above(item_key, indent + 2)
                if isinstance(item, dict) and item:
                    first = next(iter(item))
                    self._above(join_key(item_key, first), indent + 4)
                    self.mapping(item, item_key, indent + 4, depth + 1, first_prefix=" " * (indent + 2) + "- ")
                else:
                    self._line(" " * (indent + 2) + "- " + _scalar(item), item_key)
        else:
            self._line(f"{head} {_scalar(value)}", dotted)


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", key) else _scalar(key)


def emit(data: Mapping[str, Any], comments: Comments | None = None) -> str:
    writer = _Writer(comments or Comments())
    writer.out.extend(writer.comments.header)
    for n, (key, value) in enumerate(data.items()):
        if n or writer.comments.header:
            writer.out.append("")
        writer._above(str(key), 0)
        writer.value(f"{_key(str(key))}:", value, str(key), 0, 0)
    return "\n".join(writer.out) + "\n"
