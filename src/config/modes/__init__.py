"""Training modes: each declared by one `ModeSpec` (`SPEC` in `src/config/modes/<mode>.py`, found here
without a list to edit), how a config selects one, and the rules every mode's capabilities imply.

Today: `sft` (the default), `gkd` / `grpo` (rlhf.rlhf_type), `stage2_ab` (custom.trainer_variant
stage2_ab_training); any of them also by the top-level `mode: <name>`. The recipe that runs a mode is
`src/trainers/<mode>.py` (docs/architecture.md, "Adding a mode").
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from ..errors import Problem
from ..resolve import ResolvedConfig
from .capabilities import capability_problems, foreign_key_problems
from .spec import Lengths, ModeSpec, ServerRole

Mode = str  # a registered mode's name (`specs()`)
MODE_KEY = "mode"  # the top-level key that names the mode explicitly
_NOT_MODES = ("capabilities", "common", "spec")


@cache
def specs() -> dict[str, ModeSpec]:
    """Every mode of this package (each module exporting a `SPEC`), by name."""
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name not in _NOT_MODES:
            spec = getattr(importlib.import_module(f"{__name__}.{info.name}"), "SPEC", None)
            if isinstance(spec, ModeSpec):
                found[spec.name] = spec
    return found


def spec_of(mode: Mode) -> ModeSpec:
    return specs()[mode]


def modes_with(capability: str) -> str:
    """`sft and stage2_ab`: the modes whose spec has `capability`, for messages."""
    return " and ".join(name for name, spec in specs().items() if getattr(spec, capability))


def server_roles(mode: Mode) -> tuple[ServerRole, ...]:
    """The vLLM rollout servers a mode can be given (`rlhf`: rlhf.vllm_server_*; `rollout_matching`:
    rollout_matching.vllm.servers); empty when it has none."""
    return spec_of(mode).server_roles


def _selects(key: str, value: object) -> ModeSpec | None:
    field = "name" if key == MODE_KEY else key.rpartition(".")[2]  # rlhf_type / trainer_variant: spec fields
    return next((s for s in specs().values() if getattr(s, field) is not None and getattr(s, field) == value), None)


def _unknown(key: str, value: object) -> str:
    if key == "custom.trainer_variant" and value == "gkd_monitor":  # its former second meaning
        return ("custom.trainer_variant: gkd_monitor was renamed: write `custom.gkd_monitor: true` (trainer_variant "
                "now only selects a mode, the older spelling of the top-level `mode:`).")
    field = "name" if key == MODE_KEY else key.rpartition(".")[2]
    known = ", ".join(str(getattr(s, field)) for s in specs().values() if getattr(s, field))
    return {MODE_KEY: f"unknown mode {value!r}; one of: {known}.",
            "rlhf.rlhf_type": f"rlhf_type {value!r} is not supported by this launcher (supported: {known}; leave it "
                              "unset for the other modes).",
            "custom.trainer_variant": f"custom.trainer_variant {value!r} selects no mode (one of: {known}); or write "
                                      "the top-level `mode:` instead."}[key]


def _selection(resolved: ResolvedConfig) -> tuple[ModeSpec | None, str, list[Problem]]:
    """The selected spec, the key that selected it (`default` when none did), and selection problems."""
    written = {k: resolved.get(k, None) for k in (MODE_KEY, "rlhf.rlhf_type", "custom.trainer_variant")}
    found = {k: _selects(k, v) for k, v in written.items() if v is not None}
    bad = [k for k, spec in found.items() if spec is None]
    if bad:
        return None, bad[0], [Problem(_unknown(bad[0], written[bad[0]]), key=bad[0], where=resolved.where(bad[0]))]
    if len({spec.name for spec in found.values()}) > 1:
        said = "; ".join(f"{k} ({resolved.where(k)}) selects {spec.name}" for k, spec in found.items())
        key = list(found)[-1]
        return None, key, [Problem(f"the mode is ambiguous: {said}. Keep the one you mean.", key=key,
                                   where=resolved.where(key))]
    if found:
        key, spec = next(iter(found.items()))
        return spec, key, []
    return next(s for s in specs().values() if s.default), "default", []


def detect_mode(resolved: ResolvedConfig) -> tuple[Mode | None, list[Problem]]:
    spec, _, problems = _selection(resolved)
    return (spec.name if spec is not None else None), problems


def mode_origin(resolved: ResolvedConfig) -> str:
    """`grpo (rlhf.rlhf_type at base.yaml:3)`: the mode and what selected it (inspect --explain)."""
    spec, key, problems = _selection(resolved)
    if spec is None:
        return f"none ({problems[0].render()})"
    if key == "default":
        return f"{spec.name} (the default: no {MODE_KEY}, rlhf.rlhf_type or custom.trainer_variant is set)"
    return f"{spec.name} ({key} at {resolved.where(key)})"


def mode_problems(mode: Mode, resolved: ResolvedConfig) -> list[Problem]:
    """What the mode's capabilities imply, then its own cross-field rules, on the resolved (not yet proxied) data."""
    spec = spec_of(mode)
    return (foreign_key_problems(spec, specs(), resolved) + capability_problems(spec, specs(), resolved)
            + spec.rules(resolved))


__all__ = ["MODE_KEY", "Lengths", "Mode", "ModeSpec", "ServerRole", "detect_mode", "mode_origin", "mode_problems",
           "modes_with", "server_roles", "spec_of", "specs"]
