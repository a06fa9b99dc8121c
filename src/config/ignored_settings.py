"""Nothing accepted and ignored: a setting that has no effect in the run's mode or configuration is
an error at load time, naming the setting that makes it ineffective and the way out; where it is
harmless and common (a cadence of something the run switched off) a warning, printed by inspect /
validate and at launch (`ignored_warnings`).

The rules (also the table in docs/config_guide.md; the rlhf-in-SFT, stage-2-section and colocate rules live
in modes/, the bypassed dataset switches in validate.py):

- tuner-specific keys (lora_*, target_modules, adalora_*, ...) of another tuner than tuner.tuner_type;
- warnings: save_steps / save_total_limit with save_strategy 'no'; eval_steps with eval_strategy
  'no'; logging_steps with logging_strategy 'no';
- a non-zero vit_lr / aligner_lr with tuner.freeze_vit / freeze_aligner true (full tuning);
- warmup_ratio and warmup_steps both set (ms-swift refuses it);
- keys another mode owns (`ModeSpec.own_keys`: GKD-only rlhf keys in GRPO runs and the reverse);
- custom.telemetry written on in a mode without telemetry (`ModeSpec.telemetry_loss` None: GRPO; the
  schema default is on only where telemetry exists);
- `custom.dump_conversation_text: true` in a mode that does not write it (`ModeSpec.conversation_dump`;
  a `dump_conversation_path` without it is a warning).
"""

from __future__ import annotations

from .errors import Problem
from .modes import Mode, ModeSpec, modes_with, spec_of, specs
from .resolve import MISSING, ResolvedConfig
from .training_config import TrainingConfig

# Key prefixes / names that configure one tuner family (tuner section).
LORA_FAMILY = ("lora", "longlora", "adalora", "lora_llm")
TUNER_KEYS: dict[str, tuple[str, ...]] = {
    "lora_": LORA_FAMILY, "use_rslora": LORA_FAMILY, "use_dora": LORA_FAMILY, "lorap_lr_ratio": LORA_FAMILY,
    "adalora_": ("adalora",), "boft_": ("boft",), "vera_": ("vera",), "fourier_": ("fourierft",),
    "reft_": ("reft",), "llamapro_": ("llamapro",), "adapter_": ("adapter",),
}
ADAPTER_KEYS = ("target_modules", "target_regex", "target_parameters", "init_weights", "modules_to_save")


def _matches(key: str, patterns: tuple[str, ...] | str) -> bool:
    patterns = (patterns,) if isinstance(patterns, str) else patterns
    return any(key.startswith(p) if p.endswith("_") else key == p for p in patterns)


def _set(resolved: ResolvedConfig, dotted: str) -> bool:
    return resolved.get(dotted, MISSING) not in (MISSING, None)


def _tuner_problems(resolved: ResolvedConfig) -> list[Problem]:
    tuner = resolved.get("tuner", None)
    tuner_type = resolved.get("tuner.tuner_type", None)
    if not isinstance(tuner, dict) or not isinstance(tuner_type, str):
        return []
    where_type = resolved.where("tuner.tuner_type")
    problems = []
    for key in sorted(tuner):
        if tuner[key] is None:
            continue
        owners = next((fam for pat, fam in TUNER_KEYS.items() if _matches(key, pat)), None)
        if owners is None and key in ADAPTER_KEYS:
            owners = () if tuner_type == "full" else None
        if owners is None or tuner_type in owners:
            continue
        needs = f"tuner_type {' | '.join(owners)}" if owners else "an adapter tuner (tuner_type lora, ...)"
        problems.append(Problem(
            f"has no effect with tuner_type {tuner_type!r} ({where_type}); it configures {needs}. "
            "Remove it, or change tuner.tuner_type.", key=f"tuner.{key}", where=resolved.where(f"tuner.{key}")))
    return problems


def strategy_warnings(resolved: ResolvedConfig) -> list[Problem]:
    """Harmless and common (a preset's save/eval/logging cadence while a run switches that off):
    warnings, printed by inspect / validate and at launch."""
    problems = []
    for strategy, keys in (("save_strategy", ("save_steps", "save_total_limit")), ("eval_strategy", ("eval_steps",)),
                           ("logging_strategy", ("logging_steps",))):
        if resolved.get(f"training.{strategy}", None) != "no":
            continue
        for key in keys:
            if _set(resolved, f"training.{key}"):
                problems.append(Problem(
                    f"has no effect with training.{strategy}: 'no' ({resolved.where(f'training.{strategy}')}).",
                    key=f"training.{key}", where=resolved.where(f"training.{key}")))
    return problems


def _frozen_lr_problems(resolved: ResolvedConfig) -> list[Problem]:
    if resolved.get("tuner.tuner_type", None) != "full":
        return []
    problems = []
    for freeze, lr in (("tuner.freeze_vit", "training.vit_lr"), ("tuner.freeze_aligner", "training.aligner_lr")):
        value = resolved.get(lr, None)
        if resolved.get(freeze, None) is True and isinstance(value, (int, float)) and value != 0:
            problems.append(Problem(
                f"has no effect: {freeze} is true ({resolved.where(freeze)}), so these parameters are not "
                f"trained. Set {lr}: 0.0, or set {freeze}: false to train them.", key=lr, where=resolved.where(lr)))
    return problems


def _warmup_problems(resolved: ResolvedConfig) -> list[Problem]:
    ratio, steps = resolved.get("training.warmup_ratio", None), resolved.get("training.warmup_steps", None)
    if ratio and steps:
        return [Problem(f"training.warmup_steps ({resolved.where('training.warmup_steps')}) is also set; ms-swift "
                        "refuses both (one would override the other). Keep one.", key="training.warmup_ratio",
                        where=resolved.where("training.warmup_ratio"))]
    return []


def _foreign_key_problems(spec: ModeSpec, resolved: ResolvedConfig) -> list[Problem]:
    """Keys another mode owns (`ModeSpec.own_keys`); a non-RLHF mode refuses its whole rlhf section (modes/)."""
    rlhf = resolved.get("rlhf", None) if spec.is_rlhf else None
    written = {f"rlhf.{k}" for k, v in rlhf.items() if v is not None} if isinstance(rlhf, dict) else set()
    written |= {k for o in specs().values() for k in o.own_keys if not k.startswith("rlhf.") and _set(resolved, k)
                and resolved.get(k) is not False}
    problems = []
    for key in sorted(k for k in written if not _matches(k, spec.own_keys)):
        if owners := [o.name for o in specs().values() if _matches(key, o.own_keys)]:
            problems.append(Problem(f"applies only to {' | '.join(owners)} runs and has no effect in this {spec.name} "
                                    "run; remove it.", key=key, where=resolved.where(key)))
    return problems


def _telemetry_problems(spec: ModeSpec, resolved: ResolvedConfig) -> list[Problem]:
    """Telemetry written on (a file or an override) in a mode that has none; the schema default (on)
    only applies where telemetry exists, so a GRPO preset need not switch it off."""
    if spec.telemetry_loss is not None:
        return []
    on = [k for k in (f"custom.telemetry.{f}" for f in ("per_dataset", "per_token_type"))
          if resolved.get(k, None) is True]
    if not on:
        return []
    where = ", ".join(f"{k} at {resolved.where(k)}" for k in on)
    return [Problem(
        f"telemetry is not available in {spec.name} runs ({where}): {spec.no_telemetry}. Remove "
        "custom.telemetry from the preset (or set per_dataset and per_token_type to false).",
        key="custom.telemetry", where=resolved.where(on[0]))]


def _dump_problems(spec: ModeSpec, resolved: ResolvedConfig) -> list[Problem]:
    key = "custom.dump_conversation_text"
    if spec.conversation_dump or resolved.get(key, None) is not True:
        return []
    return [Problem(f"is only written by {modes_with('conversation_dump')} runs (the first training samples "
                    f"through the template); {spec.name} runs build their rows differently. Set it to false "
                    f"(python -m src.eval shows what a model is asked), or dump from a {modes_with('conversation_dump')} "
                    "preset with the same data.", key=key, where=resolved.where(key))]


def _dump_path_warnings(resolved: ResolvedConfig) -> list[Problem]:
    key = "custom.dump_conversation_path"
    if not _set(resolved, key) or resolved.get("custom.dump_conversation_text", None) is True:
        return []
    return [Problem("has no effect while custom.dump_conversation_text is not true.", key=key,
                    where=resolved.where(key))]


def ignored_warnings(mode: Mode | None, resolved: ResolvedConfig) -> list[Problem]:
    """Settings without effect that are harmless and common: printed as warnings, never fatal."""
    return strategy_warnings(resolved) + _dump_path_warnings(resolved)


def ignored_problems(mode: Mode | None, resolved: ResolvedConfig) -> list[Problem]:
    problems = _tuner_problems(resolved) + _frozen_lr_problems(resolved)
    problems += _warmup_problems(resolved)
    if mode is not None:
        spec = spec_of(mode)
        problems += _foreign_key_problems(spec, resolved) + _telemetry_problems(spec, resolved)
        problems += _dump_problems(spec, resolved)
    return problems


def config_warnings(cfg: TrainingConfig) -> list[Problem]:
    """The warnings of a validated config (printed at launch by src.sft)."""
    return ignored_warnings(cfg.mode, cfg.source)
