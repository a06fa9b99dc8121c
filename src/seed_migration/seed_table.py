"""The seed system's config format -> ours: every key, section and value form the migration knows.

One rule per seed key (dotted; `[]` stands for any list position of fusion entries). A rule gets the
value written in the old file and the context (the old config resolved, for decisions that depend
on other keys) and returns an `Outcome`: the values to write in our format, a status and the reason.

Statuses: `renamed` (same value, other key), `converted` (value form changed), `dropped` (it has no
effect here or is already our behaviour: nothing to write), `untranslated` (no equivalent: the
report lists it with what to do instead). Keys without a rule are ours already and are kept.
A rule returns None when the value is in our form already (kept, not reported). Keys the seed had
with our meaning (effective_batch_size, save_delay_steps, sample limits, ...) need no rule.
docs/config_guide.md section 11 shows the table (a test checks every rule is there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from src.config.migrations import MIGRATIONS
from src.config.modes import specs
from src.config.resolve import lookup
from src.constants import MISSING

Status = Literal["renamed", "converted", "dropped", "untranslated"]


@dataclass(frozen=True)
class Outcome:
    status: Status
    note: str
    sets: dict[str, Any] = field(default_factory=dict)  # new dotted key -> value


@dataclass(frozen=True)
class Context:
    """The old config, resolved (extends applied), for rules that look at other keys."""

    resolved: Mapping[str, Any]

    def get(self, dotted: str, default: Any = None) -> Any:
        return lookup(self.resolved, dotted, default)


RuleFn = Callable[[Any, Context], "Outcome | None"]  # None: the value is in our form already


@dataclass(frozen=True)
class Rule:
    seed: str  # the seed key ('targets[].template' for fusion entries)
    ours: str  # what it becomes, for the docs table
    fn: RuleFn


def _move(new: str, note: str) -> RuleFn:
    return lambda value, ctx: Outcome("renamed", note, {new: value})


def _untranslated(why: str) -> RuleFn:
    return lambda value, ctx: Outcome("untranslated", why)


# ------------------------------------------------------------------------------------ value rules


def _emit_norm(value: Any, ctx: Context) -> Outcome:
    forms = {"norm1000": "norm1000", "none": "pixel", None: "pixel"}
    if value not in forms:
        return Outcome("untranslated", f"emit_norm {value!r} has no coordinate format here (pixel, norm1000, "
                                       "coord_tokens)")
    return Outcome("converted", "emit_norm none|norm1000 is coord_format pixel|norm1000",
                   {"custom.coord_format": forms[value]})


def _ordering(value: Any, ctx: Context) -> Outcome:
    forms = {"reference_tlbr": "reading_order", "center_tlbr": "center_reading_order"}
    if value not in forms:
        return Outcome("untranslated", f"object_ordering_policy {value!r} has no equivalent "
                                       "(reading_order, center_reading_order, as_is)")
    return Outcome("converted", "top-to-bottom then left-to-right by the bounding box's top-left "
                   "(reference_tlbr) or centre (center_tlbr)", {"custom.object_ordering": forms[value]})


def _token_metrics(value: Any, ctx: Context) -> Outcome:
    if not isinstance(value, Mapping):
        return Outcome("untranslated", "token_type_metrics must be a mapping")
    rlhf_type = ctx.get("rlhf.rlhf_type")
    mode = next((m for m in specs().values() if rlhf_type is not None and m.rlhf_type == rlhf_type), None)
    if mode is not None and mode.telemetry_loss is None:
        return Outcome("untranslated", f"{mode.name} runs have no telemetry here: {mode.no_telemetry}")
    sets = {"custom.telemetry.per_token_type": bool(value.get("enabled", False))}
    extra = sorted(k for k in value if k != "enabled")
    if extra:
        return Outcome("untranslated", f"enabled -> custom.telemetry.per_token_type; {', '.join(extra)} (which "
                       "datasets get token-type metrics) has no equivalent: they are logged for every dataset "
                       "(telemetry only, training is unchanged)", sets)
    return Outcome("renamed", "token-type losses are custom.telemetry.per_token_type", sets)


def _packing(value: Any, ctx: Context) -> Outcome:
    if value is False:
        return Outcome("dropped", "packing is off by default (data.packing; the launcher's datasets are "
                       "encoded lazily)")
    return Outcome("untranslated", "ms-swift's pre-encoded packing does not apply to fusion datasets; use "
                   "template.padding_free: true")


def _truncation(value: Any, ctx: Context) -> Outcome:
    template_value = ctx.get("template.truncation_strategy", MISSING)
    note = ("ms-swift has one truncation_strategy argument (template section here); the seed merged its "
            "sections in the order model, data, template, tuner, training, rlhf, so this value won")
    if template_value is not MISSING and template_value != value:
        note += f" over template.truncation_strategy = {template_value!r}"
    return Outcome("renamed", note, {"template.truncation_strategy": value})


def _vllm_len(value: Any, ctx: Context) -> Outcome:
    length = ctx.get("global_max_length")
    if value == length:
        return Outcome("dropped", "global_max_length proxies rlhf.vllm_max_model_len")
    return Outcome("untranslated", f"rlhf.vllm_max_model_len = {value} differs from global_max_length = {length}; "
                   "here global_max_length is the one length knob and sets the vLLM limit to the same value. "
                   "Decide which length the run needs and set global_max_length to it")


def _deepspeed(value: Any, ctx: Context) -> Outcome | None:
    if not isinstance(value, Mapping) or "enabled" not in value:
        return None  # our form already
    rest = {f"deepspeed.{k}": v for k, v in value.items() if k != "enabled"}
    if value["enabled"] is True:
        return Outcome("converted", "`enabled` dropped: a deepspeed.config turns DeepSpeed on", rest)
    return Outcome("converted", "DeepSpeed off: the section is cleared (deepspeed: null)", {"deepspeed": None})


def _datasets(value: Any, ctx: Context) -> Outcome:
    if ctx.get("custom.fusion_config"):
        return Outcome("dropped", "the seed ignored it when custom.fusion_config is set; datasets come "
                       "from the fusion config")
    return Outcome("untranslated", "datasets come from custom.fusion_config: write a fusion config "
                   "(configs/fusion/) listing this JSONL")


def _batch_plan(value: Any, ctx: Context) -> Outcome:
    if not isinstance(value, Mapping) or not value.get("enabled", False):
        return Outcome("dropped", "batch_plan disabled: no effect")
    wanted = {
        "training.per_device_train_batch_size": value.get("per_device_train_batch_size"),
        "training.per_device_eval_batch_size": value.get("per_device_eval_batch_size"),
        "training.effective_batch_size": value.get("unified_batch_size"),
        "rlhf.generation_batch_size": value.get("unified_batch_size"),
    }
    wanted = {k: v for k, v in wanted.items() if v is not None}
    conflicts = [f"{k} = {ctx.get(k)!r} but the plan says {v!r}" for k, v in wanted.items()
                 if ctx.get(k) is not None and ctx.get(k) != v]
    extra = sorted(set(value) - {"enabled", "per_device_train_batch_size", "per_device_eval_batch_size",
                                 "unified_batch_size"})
    if conflicts or extra:
        why = "; ".join(conflicts + ([f"{', '.join(extra)} (rollout-server sizing) has no equivalent"] if extra else []))
        return Outcome("untranslated", f"batch_plan expands into explicit keys here, but {why}",
                       {} if conflicts else {k: v for k, v in wanted.items() if ctx.get(k) is None})
    missing = {k: v for k, v in wanted.items() if ctx.get(k) is None}
    return Outcome("converted", "the shorthand is written out: " + ", ".join(f"{k} = {v}" for k, v in wanted.items()),
                   missing)


def _chord(value: Any, ctx: Context) -> Outcome:
    if isinstance(value, Mapping) and value.get("enabled") is False:
        return Outcome("dropped", "CHORD disabled: no effect")
    return Outcome("untranslated", "CHORD (SFT loss mixed into GRPO) is not available; the run would train "
                   "without it")


def _save_safetensors(value: Any, ctx: Context) -> Outcome:
    if value is True:
        return Outcome("dropped", "transformers 5 always writes safetensors (the argument was removed)")
    return Outcome("untranslated", "transformers 5 always writes safetensors")


def _prompts(value: Any, ctx: Context) -> Outcome:
    profile = value.get("profile") if isinstance(value, Mapping) else None
    return Outcome("untranslated", f"prompt profiles{f' ({profile!r})' if profile else ''} lived in the seed's "
                   "Python code; here prompts are text in the preset: write custom.user_prompt / "
                   "custom.summary_prompt (or per fusion entry) with that profile's text")


def _entry_template(value: Any, ctx: Context) -> Outcome:
    if value == "chatml":
        return Outcome("dropped", "chat members (dataset: chat) train their messages with the model's own "
                       "chat template")
    return Outcome("untranslated", f"prompt template {value!r} lived in the seed's Python code: write the "
                   "entry's user_prompt / summary_prompt (or custom.user_prompt / summary_prompt) with its text")


def _without_replacement(value: Any, ctx: Context) -> Outcome:
    if value is True:
        return Outcome("dropped", "fusion sampling is without replacement while the pool lasts (always here)")
    return Outcome("untranslated", "sampling with replacement is not available (fusion draws whole shuffled "
                   "passes)")


def _max_objects(value: Any, ctx: Context) -> Outcome:
    return Outcome("untranslated", "max_objects_per_image applies to sources only (the seed ignored it on targets)")


RULES: tuple[Rule, ...] = (
    Rule("tuner.train_type", "tuner.tuner_type", _move("tuner.tuner_type", MIGRATIONS["tuner.train_type"].note)),
    Rule("training.packing", "(dropped)", _packing),
    Rule("training.save_safetensors", "(dropped)", _save_safetensors),
    *(Rule(f"data.{k}", f"training.{k}", _move(f"training.{k}", "a transformers Trainer argument: training section"))
      for k in ("dataloader_num_workers", "dataloader_pin_memory", "dataloader_prefetch_factor",
                "dataloader_persistent_workers", "dataloader_drop_last")),
    Rule("data.dataset", "(fusion config)", _datasets),
    Rule("data.val_dataset", "(fusion config)", _datasets),
    Rule("rlhf.truncation_strategy", "template.truncation_strategy", _truncation),
    Rule("rlhf.vllm_max_model_len", "global_max_length", _vllm_len),
    Rule("deepspeed", "deepspeed.config", _deepspeed),
    Rule("prompts", "custom.user_prompt / custom.summary_prompt", _prompts),
    Rule("custom.emit_norm", "custom.coord_format", _emit_norm),
    Rule("custom.object_ordering_policy", "custom.object_ordering", _ordering),
    Rule("custom.token_type_metrics", "custom.telemetry.per_token_type", _token_metrics),
    Rule("custom.train_jsonl", "(fusion config)", _datasets),
    Rule("custom.val_jsonl", "(fusion config)", _datasets),
    Rule("custom.grpo.batch_plan", "training.* batch sizes, effective_batch_size, rlhf.generation_batch_size",
         _batch_plan),
    Rule("custom.grpo.chord", "(none)", _chord),
    Rule("custom.grpo.dump", "(none)", _untranslated(
        "GRPO rollout dumps are not available (the manifest and logging.jsonl record the run)")),
    Rule("custom.augmentation.ops", "custom.augmentation.ops (flat)", lambda v, c: Outcome("converted", "")),
    Rule("custom.augmentation_curriculum", "custom.augmentation_curriculum", lambda v, c: Outcome("converted", "")),
    Rule("targets[].template", "entry user_prompt / summary_prompt", _entry_template),
    Rule("targets[].sample_without_replacement", "(always)", _without_replacement),
    Rule("targets[].augmentation_enabled", "augmentation", _move("augmentation", "renamed")),
    Rule("targets[].curriculum_enabled", "curriculum", _move("curriculum", "renamed")),
    Rule("targets[].max_objects_per_image", "(sources only)", _max_objects),
    Rule("sources[].template", "entry user_prompt / summary_prompt", _entry_template),
    Rule("sources[].sample_without_replacement", "(always)", _without_replacement),
    Rule("sources[].augmentation_enabled", "augmentation", _move("augmentation", "renamed")),
    Rule("sources[].curriculum_enabled", "curriculum", _move("curriculum", "renamed")),
)
RULES_BY_KEY: dict[str, Rule] = {r.seed: r for r in RULES}
# Augmentation parameters renamed inside ops and curriculum phases (op name -> {seed: ours}).
OP_PARAM_RENAMES: dict[str, dict[str, str]] = {"rotate": {"max_deg": "max_degrees"}}

