"""Nothing accepted and ignored: a setting that has no effect in the run's mode or configuration is
an error at load time, naming the setting that makes it ineffective and the way out; where it is
harmless and common (a cadence of something the run switched off) a warning, printed by inspect /
validate and at launch (`ignored_warnings`).

The rules (also the table in docs/config_guide.md; what a mode's keys and capabilities imply lives in
modes/capabilities.py: keys and sections another mode owns, telemetry, detection eval and the conversation
dump switched on where the mode has none; the bypassed dataset switches in validate.py):

- tuner-specific keys (lora_*, target_modules, adalora_*, ...) of another tuner than tuner.tuner_type;
- warnings: save_steps / save_total_limit with save_strategy 'no'; eval_steps with eval_strategy
  'no'; logging_steps with logging_strategy 'no';
- a non-zero vit_lr / aligner_lr with tuner.freeze_vit / freeze_aligner true (full tuning);
- warmup_ratio and warmup_steps both set (ms-swift refuses it);
- a `custom.dump_conversation_path` without `dump_conversation_text` (a warning).
"""

from __future__ import annotations

from .errors import Problem
from .modes import Mode
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
    return _tuner_problems(resolved) + _frozen_lr_problems(resolved) + _warmup_problems(resolved)


def config_warnings(cfg: TrainingConfig) -> list[Problem]:
    """The warnings of a validated config (printed at launch by src.sft)."""
    return ignored_warnings(cfg.mode, cfg.source)
