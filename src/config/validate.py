"""Schema validation of a resolved training config -> `TrainingConfig`, or one ConfigError
listing every problem (unknown keys, types, duplicates, required settings, mode rules,
length conflicts, the fusion config). The fusion config is loaded here, once per run, and carried
on the result as `TrainingConfig.fusion`."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ValidationError

from .diagnostics import pydantic_problems, unknown_key_problem
from .errors import ConfigError, Problem
from .filesource import config_file_exists
from .fusion import FusionConfig, load_fusion_config
from .ignored_settings import ignored_problems
from .lengths import implied_lengths
from .merge import Origin
from .migrations import find_migration
from .modes import MODE_KEY, Mode, detect_mode, mode_problems, modes_with, spec_of, specs
from .paths import resolve_repo_path
from .resolve import MISSING, ResolvedConfig, with_values
from .schema_custom import CustomConfig
from .schema_training import LAUNCHER_TRAINING_KEYS, schedule_problems, split_training
from .swift_fields import SECTION_KEY_ALIASES, SWIFT_SECTIONS, section_keys, sections_of
from .telemetry_rules import telemetry_problems
from .training_config import TrainingConfig
from .value_rules import value_problems

MODE_SECTIONS: dict[str, type[BaseModel]] = {name: model for spec in specs().values()
                                              for name, model in spec.sections.items()}  # e.g. stage2_ab's
TYPED_SECTIONS: dict[str, type[BaseModel]] = {"custom": CustomConfig, **MODE_SECTIONS}
TOP_LEVEL_KEYS: tuple[str, ...] = ("global_max_length", MODE_KEY, *SWIFT_SECTIONS, *TYPED_SECTIONS)
REQUIRED_LAUNCH_SETTINGS: tuple[str, ...] = (
    "model.model",
    "training.run_name",
    "training.output_dir",
    "training.logging_dir",
    "training.num_train_epochs",
    "training.learning_rate",
    "training.vit_lr",
    "training.aligner_lr",
)
FUSION_OWNED = ("data.dataset", "data.val_dataset", "data.cached_dataset", "data.cached_val_dataset")
PROXY_ORIGIN = Origin("proxy", "global_max_length")
# ms-swift dataset-stage switches that act inside the dataset preparation the launcher replaces with
# its own fusion datasets: set, they would be ignored silently, so they are errors (with the way out).
BYPASSED_DATA_SWITCHES = {
    "data.packing": "the launcher's fusion datasets are scheduled and encoded lazily per epoch, so ms-swift's "
                    "pre-encoded bin packing cannot apply; use template.padding_free: true (each batch becomes "
                    "one packed row, checked at run time by src/trainers/packing_guard.py) and size batches "
                    "with training.per_device_train_batch_size",
    "data.streaming": "the launcher already reads JSONL lazily through an offset index (no full load); "
                      "remove the key",
}


def _swift_name(section: str, key: str) -> str:
    return SECTION_KEY_ALIASES.get((section, key), key)


def _structure_problems(resolved: ResolvedConfig) -> list[Problem]:
    problems: list[Problem] = []
    written: dict[str, list[str]] = {}  # ms-swift argument -> dotted keys that set it
    for key, value in resolved.data.items():
        if key not in TOP_LEVEL_KEYS:
            problems.append(unknown_key_problem(key, TOP_LEVEL_KEYS, resolved.where(key)))
            continue
        if key == "global_max_length":
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                problems.append(Problem(f"must be a positive integer (got {value!r})", key=key,
                                        where=resolved.where(key)))
            continue
        if key == MODE_KEY:  # its value is checked by modes.detect_mode
            continue
        if value is not None and not isinstance(value, dict):
            problems.append(Problem(f"a section must be a mapping (got {type(value).__name__})", key=key,
                                    where=resolved.where(key)))
            continue
        if key not in SWIFT_SECTIONS or not value:
            continue
        valid = section_keys(key)
        for name, field_value in value.items():
            dotted = f"{key}.{name}"
            if key == "training" and name in LAUNCHER_TRAINING_KEYS:
                continue  # launcher keys: schema_training
            field = valid.get(name)
            if field is None or find_migration(dotted) is not None:
                homes = [s for s in sections_of(name) if s != key]
                hint = f"`{name}` is an ms-swift argument of the `{homes[0]}` section." if homes else None
                problems.append(unknown_key_problem(dotted, valid, resolved.where(dotted), hint))
                continue
            message = field.check(field_value)
            if message:
                problems.append(Problem(message, key=dotted, where=resolved.where(dotted)))
            written.setdefault(_swift_name(key, name), []).append(dotted)
    for swift_name, keys in written.items():
        if len(keys) > 1:
            places = " and ".join(f"{k} ({resolved.where(k)})" for k in keys)
            problems.append(Problem(
                f"{places} set the same ms-swift argument `{swift_name}`; one would silently override "
                "the other. Keep one of them."
            ))
    return problems


def _typed_sections(resolved: ResolvedConfig) -> tuple[dict[str, Any], list[Problem]]:
    parsed: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, model in TYPED_SECTIONS.items():
        raw = resolved.get(name, None)
        if raw is not None and not isinstance(raw, dict):
            continue  # reported by _structure_problems
        if raw is None and name != "custom":
            parsed[name] = None
            continue
        try:
            parsed[name] = model.model_validate(raw or {})
        except ValidationError as exc:
            problems += pydantic_problems(exc, model, name, resolved.where)
    return parsed, problems


def _launch_problems(resolved: ResolvedConfig) -> list[Problem]:
    problems: list[Problem] = []
    for dotted in (*REQUIRED_LAUNCH_SETTINGS, "global_max_length", "custom.fusion_config"):
        if resolved.get(dotted, None) is None:
            problems.append(Problem(
                "required in every runnable preset (set it explicitly in the preset; no hidden defaults).",
                key=dotted, where=resolved.display,
            ))
    return problems


def _bypassed_problems(resolved: ResolvedConfig) -> list[Problem]:
    return [Problem(f"not supported: {why}.", key=k, where=resolved.where(k))
            for k, why in BYPASSED_DATA_SWITCHES.items() if resolved.get(k, None) not in (None, False, MISSING)]


def _fusion_problems(
    resolved: ResolvedConfig, custom: CustomConfig | None, mode: Mode | None
) -> tuple[FusionConfig | None, list[Problem]]:
    """The fusion config `custom.fusion_config` names (loaded here, the one time a run loads it) and
    the problems with it; None when it is not set or cannot be loaded."""
    problems = [
        Problem("datasets come from custom.fusion_config; select them in the fusion config.",
                key=k, where=resolved.where(k))
        for k in FUSION_OWNED if resolved.get(k, None) not in (None, [], MISSING)
    ]
    if custom is None or custom.fusion_config is None:
        return None, problems
    path = resolve_repo_path(custom.fusion_config)
    where = resolved.where("custom.fusion_config")
    if not config_file_exists(path):
        return None, problems + [Problem(f"fusion config not found at {path}", key="custom.fusion_config",
                                         where=where)]
    try:
        fusion = load_fusion_config(path)
    except ConfigError as exc:
        return None, problems + [Problem(f"invalid fusion config {custom.fusion_config}: {p.render()}",
                                         key="custom.fusion_config", where=where) for p in exc.problems]
    chats = [e.name for e in (*fusion.targets, *fusion.sources) if e.is_chat]
    if chats and mode is not None and not spec_of(mode).chat_members:
        problems.append(Problem(
            f"chat-format members ({', '.join(chats)}) train only in {modes_with('chat_members')} runs; this is a "
            f"{mode} run, whose rows need images and objects. Use a fusion config without them.",
            key="custom.fusion_config", where=where))
    # use_summary: true renders every entry as a summary, so a dense target would be ignored silently;
    # with use_summary: false each entry renders in its own mode (dense and summary targets may mix).
    off = [t.name for t in fusion.targets if custom.use_summary and t.mode != "summary" and not t.is_chat]
    if off:
        problems.append(Problem(
            f"custom.use_summary is true ({resolved.where('custom.use_summary')}), which renders every entry as a "
            f"summary, but fusion targets {', '.join(off)} are mode dense; make the two agree.",
            key="custom.fusion_config", where=where,
        ))
    return fusion, problems


def validate_training_config(resolved: ResolvedConfig, *, runnable: bool) -> TrainingConfig:
    """Validate a resolved config; `runnable` enforces the required launch settings."""
    problems = _structure_problems(resolved)
    typed, typed_problems = _typed_sections(resolved)
    problems += typed_problems
    schedule, schedule_errs = schedule_problems(resolved)
    problems += schedule_errs
    if runnable:
        problems += _launch_problems(resolved)
    mode, mode_errs = detect_mode(resolved)
    problems += mode_errs
    implied: dict[str, int] = {}
    spec = spec_of(mode) if mode is not None else None
    if mode is not None and spec is not None:  # both or neither
        problems += mode_problems(mode, resolved)
        if typed.get("custom") is not None and spec.telemetry_loss is not None:
            telemetry = typed["custom"].telemetry
            problems += telemetry_problems(spec.telemetry_loss, resolved, telemetry.per_dataset,
                                           telemetry.per_token_type)
        implied, length_problems = implied_lengths(mode, resolved)
        problems += length_problems
    fusion, fusion_errs = _fusion_problems(resolved, typed.get("custom"), mode)
    problems += fusion_errs
    problems += _bypassed_problems(resolved)
    problems += value_problems(resolved, spec.value_rules if spec else ()) + ignored_problems(mode, resolved)
    if problems:
        raise ConfigError(problems, subject=resolved.display)
    assert mode is not None
    proxied = {k: v for k, v in implied.items() if resolved.get(k, None) is None}
    final = with_values(resolved, proxied, PROXY_ORIGIN) if proxied else resolved
    for name, model in MODE_SECTIONS.items():  # a mode section with a proxied length (rollout_matching.vllm)
        if any(key.startswith(f"{name}.") for key in proxied):
            typed[name] = model.model_validate(final.data[name])
    typed["schedule"] = schedule
    typed["fusion"] = fusion
    return _build(mode, final, typed)


def _build(mode: Mode, final: ResolvedConfig, typed: dict[str, Any]) -> TrainingConfig:
    def section(name: str) -> dict[str, Any]:
        values = copy.deepcopy(final.get(name, None) or {})
        return split_training(values)[0] if name == "training" else values

    return TrainingConfig(
        mode=mode,
        global_max_length=final.get("global_max_length", None),
        model=section("model"),
        template=section("template"),
        tuner=section("tuner"),
        training=section("training"),
        data=section("data"),
        rlhf=section("rlhf"),
        deepspeed=section("deepspeed"),
        quantization=section("quantization"),
        custom=typed["custom"],
        **{name: typed[name] for name in MODE_SECTIONS},
        source=final,
        schedule=typed["schedule"],
        fusion=typed["fusion"],
    )
