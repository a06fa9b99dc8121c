"""What a mode adds to the shared config rules: its cross-field rules and its length proxies.

One `ModeRules` per mode, in `src/config/modes/<mode>.py`; `src/config/modes/__init__.py` registers
them under their mode name. The recipe that runs the mode is `src/trainers/<mode>.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import Problem
from ..resolve import MISSING, ResolvedConfig


@dataclass(frozen=True)
class Lengths:
    """What ``global_max_length`` (G) implies for one mode: proxied field -> value, budget problems, and a
    note appended to a ``template.max_length`` conflict. ``implied`` is empty when nothing can be proxied."""

    implied: dict[str, int]
    problems: list[Problem]
    note: str = ""


@dataclass(frozen=True)
class ModeRules:
    name: str
    rules: Callable[[ResolvedConfig], list[Problem]]  # cross-field rules on the resolved (not yet proxied) data
    lengths: Callable[[ResolvedConfig, int], Lengths]  # the proxies of G (an int > 0)


def need(resolved: ResolvedConfig, mode: str, dotted: str, why: str) -> list[Problem]:
    """A section or key the mode cannot run without."""
    if resolved.get(dotted, None) in (None, MISSING, [], ""):
        return [Problem(f"required for {mode} runs: {why}", key=dotted, where=resolved.where(dotted.rpartition(".")[0]))]
    return []
