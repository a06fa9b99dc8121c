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
from .common import detection_eval_interval, rejects_detection_eval, rejects_rlhf_settings
from .spec import Lengths, ModeSpec, ServerRole

Mode = str  # a registered mode's name (`specs()`)
MODE_KEY = "mode"  # the top-level key that names the mode explicitly
_NOT_MODES = ("common", "spec")


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
    names = [name for name, spec in specs().items() if getattr(spec, capability)]
    return " and ".join(names) if len(names) < 3 else ", ".join(names[:-1]) + " and " + names[-1]


def server_roles(mode: Mode) -> tuple[ServerRole, ...]:
    """The vLLM rollout servers a mode can be given (`rlhf`: rlhf.vllm_server_*; `rollout_matching`:
    rollout_matching.vllm.servers); empty when it has none."""
    return spec_of(mode).server_roles


def _selection(resolved: ResolvedConfig) -> tuple[ModeSpec | None, str, list[Problem]]:
    """The selected spec, the key that selected it (`default` when none did), and selection problems."""
    table = specs()
    explicit = resolved.get(MODE_KEY, None)
    rlhf_type = resolved.get("rlhf.rlhf_type", None)
    variant = resolved.get("custom.trainer_variant", None)
    by_type = next((s for s in table.values() if s.rlhf_type is not None and s.rlhf_type == rlhf_type), None)
    by_variant = next((s for s in table.values() if s.trainer_variant is not None and s.trainer_variant == variant),
                      None)

    def problem(message: str, key: str) -> list[Problem]:
        return [Problem(message, key=key, where=resolved.where(key))]

    if explicit is not None and (not isinstance(explicit, str) or explicit not in table):
        return None, MODE_KEY, problem(f"unknown mode {explicit!r}; one of: {', '.join(table)}.", MODE_KEY)
    if variant == "gkd_monitor":  # its former second meaning
        return None, "custom.trainer_variant", problem(
            "custom.trainer_variant: gkd_monitor was renamed: write `custom.gkd_monitor: true` (trainer_variant "
            "now only selects a mode, as the older spelling of the top-level `mode:`).", "custom.trainer_variant")
    if variant is not None and by_variant is None:
        known = ", ".join(f"{s.trainer_variant} (mode {s.name})" for s in table.values() if s.trainer_variant)
        return None, "custom.trainer_variant", problem(
            f"custom.trainer_variant {variant!r} selects no mode; one of: {known}, or write the top-level "
            "`mode:` instead.", "custom.trainer_variant")
    if rlhf_type is not None and by_type is None:
        supported = ", ".join(s.rlhf_type for s in table.values() if s.rlhf_type)
        return None, "rlhf.rlhf_type", problem(
            f"rlhf_type {rlhf_type!r} is not supported by this launcher (supported: {supported}; leave it unset "
            f"for the other modes).", "rlhf.rlhf_type")
    chosen = [(k, s) for k, s in ((MODE_KEY, table.get(explicit)), ("rlhf.rlhf_type", by_type),
                                  ("custom.trainer_variant", by_variant)) if s is not None]
    if len({s.name for _, s in chosen}) > 1:
        said = "; ".join(f"{k} ({resolved.where(k)}) selects {s.name}" for k, s in chosen)
        return None, chosen[0][0], problem(f"the mode is ambiguous: {said}. Keep the one you mean.", chosen[-1][0])
    if chosen:
        return chosen[0][1], chosen[0][0], []
    return next(s for s in table.values() if s.default), "default", []


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


def _capability_problems(spec: ModeSpec, resolved: ResolvedConfig) -> list[Problem]:
    problems = [] if spec.is_rlhf else rejects_rlhf_settings(resolved, spec.name)
    for section in (s for other in specs().values() for s in other.sections if s not in spec.sections):
        if resolved.get(section, None) is not None:
            owners = [o for o in specs().values() if section in o.sections]
            selects = ", ".join(f"{MODE_KEY}: {o.name}" + (f" or custom.trainer_variant: {o.trainer_variant}"
                                                            if o.trainer_variant else "") for o in owners)
            problems.append(Problem(f"only {' and '.join(o.name for o in owners)} runs ({selects}) read this "
                                    f"section; this is a {spec.name} run.", key=section, where=resolved.where(section)))
    for key in (k for other in specs().values() for k in other.own_switches if k not in spec.own_switches):
        if resolved.get(key, None) is True:
            owners = " and ".join(o.name for o in specs().values() if key in o.own_switches)
            problems.append(Problem(f"applies only to {owners} runs and has no effect in this {spec.name} run; "
                                    "remove it.", key=key, where=resolved.where(key)))
    if spec.detection_eval:
        return problems + detection_eval_interval(resolved)
    return problems + rejects_detection_eval(resolved, spec.name, spec.is_rlhf, modes_with("detection_eval"))


def mode_problems(mode: Mode, resolved: ResolvedConfig) -> list[Problem]:
    """What the mode's capabilities imply, then its own cross-field rules, on the resolved (not yet proxied) data."""
    spec = spec_of(mode)
    return _capability_problems(spec, resolved) + spec.rules(resolved)


__all__ = ["MODE_KEY", "Lengths", "Mode", "ModeSpec", "ServerRole", "detect_mode", "mode_origin", "mode_problems",
           "modes_with", "server_roles", "spec_of", "specs"]
