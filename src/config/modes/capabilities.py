"""What a mode's declared keys and capabilities imply for a config: the same rules for every mode.

A setting only another mode reads, or a capability the mode lacks switched on, is an error naming the modes
that have it; a capability the mode has may need its own settings (detection eval's interval).
"""

from __future__ import annotations

from ..errors import Problem
from ..resolve import ResolvedConfig
from .spec import ModeSpec

EVAL, DUMP = "custom.detection_eval", "custom.dump_conversation_text"


def _matches(key: str, patterns: tuple[str, ...]) -> bool:
    return any(key.startswith(p) if p.endswith("_") else key == p for p in patterns)


def _on(resolved: ResolvedConfig, key: str) -> bool:
    return resolved.get(key, None) is True


def _problem(resolved: ResolvedConfig, key: str, message: str, where: str | None = None) -> Problem:
    return Problem(message, key=key, where=resolved.where(where or key))


def foreign_key_problems(spec: ModeSpec, table: dict[str, ModeSpec], resolved: ResolvedConfig) -> list[Problem]:
    """An rlhf section in a mode on SFT arguments, a section or key another mode owns."""
    rlhf = resolved.get("rlhf", None) if isinstance(resolved.get("rlhf", None), dict) else {}
    problems = [] if spec.is_rlhf else [_problem(
        resolved, f"rlhf.{k}", f"rlhf settings have no effect in a {spec.name} run; remove them or set rlhf.rlhf_type "
        "(gkd | grpo).") for k in sorted(k for k, v in rlhf.items() if not (k == "rlhf_type" and v is None))]
    for section in (s for other in table.values() for s in other.sections if s not in spec.sections):
        if resolved.get(section, None) is not None:
            owners = [o for o in table.values() if section in o.sections]
            selects = ", ".join(f"mode: {o.name}" + (f" or custom.trainer_variant: {o.trainer_variant}"
                                                     if o.trainer_variant else "") for o in owners)
            problems.append(_problem(resolved, section, f"only {' and '.join(o.name for o in owners)} runs "
                                                        f"({selects}) read this section; this is a {spec.name} run."))
    written = {f"rlhf.{k}" for k, v in rlhf.items() if v is not None} if spec.is_rlhf else set()
    written |= {k for o in table.values() for k in o.own_keys if not k.startswith("rlhf.") and _on(resolved, k)}
    for key in sorted(k for k in written if not _matches(k, spec.own_keys)):
        if owners := [o.name for o in table.values() if _matches(key, o.own_keys)]:
            problems.append(_problem(resolved, key, f"applies only to {' | '.join(owners)} runs and has no effect in "
                                                    f"this {spec.name} run; remove it."))
    return problems


def capability_problems(spec: ModeSpec, table: dict[str, ModeSpec], resolved: ResolvedConfig) -> list[Problem]:
    """Telemetry, the conversation dump or detection eval switched on where the mode has none; eval's interval."""
    def having(capability: str) -> str:
        return " and ".join(name for name, s in table.items() if getattr(s, capability))

    problems = []
    on = [k for k in (f"custom.telemetry.{f}" for f in ("per_dataset", "per_token_type")) if _on(resolved, k)]
    if spec.telemetry_loss is None and on:  # written on: the schema default is on only where telemetry exists
        problems.append(_problem(resolved, "custom.telemetry", f"telemetry is not available in {spec.name} runs ("
                                 f"{', '.join(f'{k} at {resolved.where(k)}' for k in on)}): {spec.no_telemetry}. "
                                 "Remove custom.telemetry from the preset (or set per_dataset and per_token_type to "
                                 "false).", on[0]))
    if not spec.conversation_dump and _on(resolved, DUMP):
        problems.append(_problem(resolved, DUMP, f"is only written by {having('conversation_dump')} runs (the first "
                                 f"training samples through the template); {spec.name} runs build their rows "
                                 "differently. Set it to false (python -m src.eval shows what a model is asked), or "
                                 f"dump from a {having('conversation_dump')} preset with the same data."))
    if not _on(resolved, f"{EVAL}.enabled"):
        return problems
    if not spec.detection_eval:
        why = "driven by ms-swift's RLHF trainer, whose generation loop we do not hook" if spec.is_rlhf else "not hooked"
        return [*problems, _problem(
            resolved, f"{EVAL}.enabled", f"detection metrics during training run in {having('detection_eval')} runs "
            f"only: {spec.name} steps are {why}; set custom.detection_eval.enabled false and evaluate its checkpoints "
            "with `python -m src.eval RUN_DIR --checkpoint checkpoint-N`.")]
    steps = resolved.get("training.eval_steps", None)
    if resolved.get(f"{EVAL}.every_steps", None) is None and not (
            isinstance(steps, int) and not isinstance(steps, bool) and steps >= 1):
        got = "is not set" if steps is None else f"is {steps!r}, not a whole number of steps"
        problems.append(_problem(resolved, f"{EVAL}.every_steps", "custom.detection_eval is enabled without "
                                 f"custom.detection_eval.every_steps, and training.eval_steps {got}: set "
                                 "custom.detection_eval.every_steps (an optimizer-step interval).", f"{EVAL}.enabled"))
    return problems
