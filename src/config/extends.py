"""The `extends` graph: reading parents and ordering files by C3 linearization.

`extends` is a string or a list of paths relative to the file that writes it. The merge order
is the reverse of the C3 linearization computed with each file's parent list reversed: every
file appears once, parents before children, and for `extends: [B, C]` B is applied before C
(so C wins where both set a key, and a shared ancestor D is applied once, before both).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .errors import ConfigError, Problem
from .filesource import config_file_exists
from .paths import display_path
from .yaml_io import YamlDocument, join_index

EXTENDS_KEY = "extends"


def read_parents(doc: YamlDocument) -> list[Path]:
    """The files `doc` extends, resolved against its directory, in the order written."""
    raw = doc.data.get(EXTENDS_KEY)
    if raw is None:
        return []
    entries = [raw] if isinstance(raw, str) else raw
    if not isinstance(entries, list) or not all(isinstance(e, str) and e.strip() for e in entries):
        raise ConfigError([Problem(
            "`extends` must be a path or a list of paths (relative to this file)",
            key=EXTENDS_KEY, where=doc.where(EXTENDS_KEY),
        )])
    parents: list[Path] = []
    problems: list[Problem] = []
    for i, entry in enumerate(entries):
        target = (doc.path.parent / Path(entry).expanduser()).resolve(strict=False)
        dotted = EXTENDS_KEY if isinstance(raw, str) else join_index(EXTENDS_KEY, i)
        if not config_file_exists(target):
            problems.append(Problem(
                f"extends target {entry!r} does not exist (looked for {display_path(target)}); "
                "extends paths are relative to the file that writes them",
                key=EXTENDS_KEY, where=doc.where(dotted),
            ))
        elif target in parents:
            problems.append(Problem(
                f"{entry!r} is listed twice in extends", key=EXTENDS_KEY, where=doc.where(dotted),
            ))
        else:
            parents.append(target)
    if problems:
        raise ConfigError(problems)
    return parents


def _c3_merge(sequences: list[list[Path]], root: Path) -> list[Path]:
    seqs = [list(s) for s in sequences if s]
    result: list[Path] = []
    while seqs:
        for seq in seqs:
            head = seq[0]
            if not any(head in other[1:] for other in seqs):
                break
        else:
            heads = ", ".join(sorted({display_path(s[0]) for s in seqs}))
            raise ConfigError([Problem(
                "inconsistent extends hierarchy: no merge order keeps every file's extends order "
                f"(files that each must come before another: {heads}). Reorder the extends lists "
                "so that shared parents are listed in the same order everywhere.",
                where=display_path(root),
            )])
        result.append(head)
        seqs = [s[1:] if s[0] == head else s for s in seqs]
        seqs = [s for s in seqs if s]
    return result


def linearize(root: Path, load: Callable[[Path], YamlDocument]) -> list[YamlDocument]:
    """Documents of `root` and its ancestors in merge order (lowest precedence first)."""
    docs: dict[Path, YamlDocument] = {}
    memo: dict[Path, list[Path]] = {}
    stack: list[Path] = []

    def mro(node: Path) -> list[Path]:
        if node in stack:
            cycle = stack[stack.index(node):] + [node]
            raise ConfigError([Problem(
                "extends cycle: " + " -> ".join(display_path(p) for p in cycle),
                where=display_path(stack[-1]),
            )])
        if node in memo:
            return memo[node]
        if node not in docs:
            docs[node] = load(node)
        parents = read_parents(docs[node])
        stack.append(node)
        parent_orders = [mro(p) for p in reversed(parents)]
        stack.pop()
        memo[node] = [node] + _c3_merge(parent_orders + [list(reversed(parents))], root)
        return memo[node]

    return [docs[p] for p in reversed(mro(root.resolve(strict=False)))]
