"""`global_max_length` (G): the one length knob, proxied into every ms-swift length field.

What G implies depends on the mode: each mode's `lengths` (src/config/modes/<mode>.py) says it and why
(the table: docs/config_guide.md, section 4). Budgets that must fit inside G (rlhf.max_completion_length,
rollout_matching.max_new_tokens) are checked there too. In every mode `model.max_model_len` (ms-swift writes
it into `max_position_embeddings`) is G, the longest sequence a run builds, and vLLM holds prompt + completion
(G; in server mode ms-swift ignores the trainer-side value and the launcher passes it to `swift rollout`).

An explicit value in a proxied field equal to what G implies is accepted; a different one is an
error naming both. Proxied values carry the origin `proxy:global_max_length`.
"""

from __future__ import annotations

from typing import Any

from .errors import Problem
from .modes import spec_of
from .resolve import MISSING, ResolvedConfig

KEY = "global_max_length"


def implied_lengths(mode: str, resolved: ResolvedConfig) -> tuple[dict[str, int], list[Problem]]:
    """The values G implies for each proxied field in this mode (src/config/modes/<mode>.py), budget problems,
    and a problem for every written value that differs from what G implies."""
    g = resolved.get(KEY, None)
    if not isinstance(g, int) or isinstance(g, bool) or g <= 0:
        return {}, []
    lengths = spec_of(mode).lengths(resolved, g)
    implied, problems = lengths.implied, list(lengths.problems)
    for dotted, value in implied.items():
        written: Any = resolved.get(dotted, MISSING)
        if written is MISSING or written is None or written == value:
            continue
        note = lengths.note if dotted == "template.max_length" else ""
        problems.append(Problem(
            f"conflicts with global_max_length: written {written!r}, but global_max_length {g} ({resolved.where(KEY)}) "
            f"implies {dotted} = {value} for a {mode} run{note}. Remove {dotted} and set only "
            "global_max_length.",
            key=dotted, where=resolved.where(dotted),
        ))
    return implied, problems
