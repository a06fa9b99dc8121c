"""YAML reading with line numbers.

Each file is composed into PyYAML's node tree, constructed into plain Python values, and walked
once more to record the line of every mapping key and list item under its dotted path
(`training.learning_rate`, `custom.augmentation.ops[1].prob`). Differences from PyYAML's
SafeLoader: duplicate keys in one mapping are an error, and YAML 1.2 floats without a dot
(`1e-4`) load as floats instead of strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, Problem
from .filesource import file_to_read
from .paths import display_path

# libyaml's parser (about 8x faster) when PyYAML was built with it; same nodes, marks and resolvers.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):
    pass


# Copy the per-character resolver lists: add_implicit_resolver would otherwise append to the
# lists SafeLoader shares with every other loader.
_Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def join_key(prefix: str, key: object) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def join_index(prefix: str, index: int) -> str:
    return f"{prefix}[{index}]"


@dataclass(frozen=True)
class YamlDocument:
    """One parsed file: its data (a mapping) and the 1-based line of each dotted path in it."""

    path: Path
    data: dict[str, Any]
    lines: dict[str, int]

    @property
    def display(self) -> str:
        return display_path(self.path)

    def where(self, dotted: str) -> str:
        line = self.lines.get(dotted)
        return f"{self.display}:{line}" if line else self.display


def _walk(node: yaml.Node, prefix: str, lines: dict[str, int], problems: list[Problem], file: str) -> None:
    if isinstance(node, yaml.MappingNode):
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "<complex key>"
            dotted = join_key(prefix, key)
            line = key_node.start_mark.line + 1
            inside = node.start_mark.index <= key_node.start_mark.index <= node.end_mark.index
            if key in first_seen and inside:
                problems.append(Problem(
                    f"duplicate key (first written on line {first_seen[key]}); YAML would silently keep "
                    "the last one. Remove one of them.",
                    key=dotted, where=f"{file}:{line}",
                ))
            if inside:
                first_seen.setdefault(key, line)
            lines[dotted] = line
            _walk(value_node, dotted, lines, problems, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            dotted = join_index(prefix, i)
            lines.setdefault(dotted, item.start_mark.line + 1)
            _walk(item, dotted, lines, problems, file)


def parse_yaml_text(text: str, *, name: str) -> tuple[Any, dict[str, int]]:
    """Parse YAML text; return (value, lines). Raises ConfigError on syntax errors / duplicates."""
    loader = _Loader(text)
    loader.name = name
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        value = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}" if mark else name
        detail = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise ConfigError([Problem(f"invalid YAML: {detail}", where=where)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(f"invalid YAML: {exc}", where=name)]) from None
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    problems: list[Problem] = []
    _walk(node, "", lines, problems, name)
    if problems:
        raise ConfigError(problems)
    return value, lines


def load_yaml_file(path: Path) -> YamlDocument:
    """Read a config file whose top level must be a mapping (an empty file is `{}`)."""
    name = display_path(path)
    try:
        text = file_to_read(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem("config file not found", where=name)]) from None
    except OSError as exc:
        raise ConfigError([Problem(f"cannot read config file: {exc.strerror}", where=name)]) from None
    value, lines = parse_yaml_text(text, name=name)
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError([Problem(
            f"the top level of a config file must be a mapping, got {type(value).__name__}", where=name,
        )])
    return YamlDocument(path=path, data=value, lines=lines)


def parse_yaml_value(text: str) -> Any:
    """A command-line override value: a YAML scalar or flow collection (`1e-4`, `[a, b]`, `{x: 1}`)."""
    value, _ = parse_yaml_text(text, name="<override>")
    return value
