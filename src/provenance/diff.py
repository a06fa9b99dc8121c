"""Dotted, key-sorted differences between two resolved trees (the config tools' diff engine)."""

from __future__ import annotations

from typing import Any

from src.config.tools.diffing import ABSENT, Change, diff_trees, render_value

__all__ = ["ABSENT", "Change", "changed_keys", "diff_trees", "render_change"]


def changed_keys(left: Any, right: Any, prefix: str = "") -> list[str]:
    return [change.path for change in diff_trees(left, right, prefix)]


def render_change(change: Change) -> str:
    return f"{change.path}: {render_value(change.left)} -> {render_value(change.right)}"
