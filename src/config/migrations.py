"""Renamed and removed config keys, with the guidance shown when a config still uses them.

A key listed here is an error even where ms-swift would accept it (compatibility aliases such as
`rlhf.max_new_tokens` silently override the real setting). A table key also matches everything
below it (`prompts` covers `prompts.profile`); list indices are ignored (`targets.x` matches a key `x`
of any fusion target).
Keys of the seed system's format are here for the guidance; `inspect_config.py migrate` translates
whole files (its table: `src/seed_migration/seed_table.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    replacement: str | None  # the dotted key to use instead; None when the setting is gone
    note: str

    def guidance(self) -> str:
        if self.replacement:
            return f"Migration: use `{self.replacement}` instead. {self.note}"
        return f"Migration: this setting was removed. {self.note}"


_LENGTH = Migration(
    "global_max_length",
    "Lengths are set only by the top-level `global_max_length`; the loader proxies it into "
    "template.max_length, model.max_model_len and, for RL runs, rlhf.vllm_max_model_len.",
)

MIGRATIONS: dict[str, Migration] = {
    "tuner.train_type": Migration("tuner.tuner_type", "ms-swift 4 renamed `train_type` to `tuner_type`."),
    "training.train_type": Migration("tuner.tuner_type", "ms-swift 4 renamed `train_type` to `tuner_type`."),
    "training.tuner_type": Migration("tuner.tuner_type", "The tuner choice lives in the tuner section."),
    "tuner.freeze_vision": Migration("tuner.freeze_vit", "ms-swift calls the vision tower `vit`."),
    "model.model_id_or_path": Migration("model.model", "ms-swift 3 renamed `model_id_or_path` to `model`."),
    "template.template_type": Migration("template.template", "ms-swift 3 renamed `template_type`."),
    "training.custom_register_path": Migration(
        "training.external_plugins", "ms-swift keeps `custom_register_path` only for 3.x compatibility."
    ),
    "training.evaluation_strategy": Migration(
        "training.eval_strategy", "transformers renamed `evaluation_strategy` to `eval_strategy`."
    ),
    "training.per_gpu_train_batch_size": Migration(
        "training.per_device_train_batch_size", "transformers removed the per_gpu_* names."
    ),
    "training.per_gpu_eval_batch_size": Migration(
        "training.per_device_eval_batch_size", "transformers removed the per_gpu_* names."
    ),
    "training.deepspeed": Migration(
        "deepspeed.config", "DeepSpeed settings live in the `deepspeed` section (`config: zero2|zero3|<json>`)."
    ),
    "training.max_length": _LENGTH,
    "model.max_length": _LENGTH,
    "data.max_length": _LENGTH,
    "custom.max_length": _LENGTH,
    "custom.global_max_length": Migration("global_max_length", "`global_max_length` is a top-level key."),
    "rlhf.max_new_tokens": Migration(
        "rlhf.max_completion_length",
        "ms-swift keeps `max_new_tokens` only as an alias that silently overrides max_completion_length.",
    ),
    "rlhf.response_length": Migration(
        "rlhf.max_completion_length",
        "ms-swift keeps `response_length` only as an alias that silently overrides max_completion_length.",
    ),
    "custom.emit_norm": Migration(
        "custom.coord_format",
        "`emit_norm: none|norm1000` became `coord_format: pixel|norm1000|coord_tokens`.",
    ),
    "custom.use_coord_tokens": Migration("custom.coord_format", "Write `coord_format: coord_tokens`."),
    "custom.augmentation.curriculum": Migration(
        "custom.augmentation_curriculum", "The curriculum is a sibling of `custom.augmentation`."
    ),
    "custom.augmentation.ops.params": Migration(
        "custom.augmentation.ops",
        "Ops are flat: write `{name: rotate, prob: 0.3, max_degrees: 10}`, not `{name, params: {...}}` "
        "(`inspect_config.py migrate` rewrites them).",
    ),
    "custom.augmentation.ops.max_deg": Migration("custom.augmentation.ops.max_degrees", "`rotate` spells it out."),
    "custom.augmentation_curriculum.phases.until_progress": Migration(
        "custom.augmentation_curriculum.phases.until_percent",
        "Milestones are percent of the run's optimizer steps (`until_percent: 100 x until_progress`) or "
        "`until_step`; values now ramp linearly from the previous phase's targets (the base "
        "`custom.augmentation` before the first phase) instead of switching at the milestone.",
    ),
    "fusion_config": Migration("custom.fusion_config", "The fusion selection lives in the custom section."),
    "custom.fusion": Migration("custom.fusion_config", "Point at a fusion YAML under configs/fusion/."),
    "prompts": Migration(
        "custom.user_prompt",
        "Prompt profiles were removed: write `custom.user_prompt` / `custom.summary_prompt` in the preset.",
    ),
    "debug": Migration(
        None, "Use the runnable preset configs/debug.yaml, or overrides such as `training.max_steps=5`."
    ),
    "stage2_ab.b_ratio": Migration("stage2_ab.schedule.b_ratio", "The schedule has its own block."),
    "rollout_matching.temperature": Migration("rollout_matching.decoding.temperature", "Decoding has its own block."),
    "rollout_matching.top_p": Migration("rollout_matching.decoding.top_p", "Decoding has its own block."),
    "rollout_matching.do_sample": Migration("rollout_matching.decoding.do_sample", "Decoding has its own block."),
    "rollout_matching.rollout_backend": Migration("rollout_matching.backend", "Renamed."),
    "rollout_matching.vllm_mode": Migration("rollout_matching.vllm.mode", "vLLM settings have their own block."),
    "custom.object_ordering_policy": Migration(
        "custom.object_ordering", "reference_tlbr -> reading_order, center_tlbr -> center_reading_order."),
    "custom.token_type_metrics": Migration("custom.telemetry.per_token_type", "`enabled` is per_token_type."),
    "custom.grpo.batch_plan": Migration(
        "training.effective_batch_size",
        "Write the plan out: training.per_device_train_batch_size / per_device_eval_batch_size, "
        "training.effective_batch_size and rlhf.generation_batch_size (= unified_batch_size).",
    ),
    "deepspeed.enabled": Migration("deepspeed.config", "A `deepspeed.config` turns DeepSpeed on; remove the section to turn it off."),
    "training.save_safetensors": Migration(None, "transformers 5 always writes safetensors."),
    **{f"{lst}.{old}": Migration(new, "Fusion entry field renamed.")
       for lst in ("targets", "sources") for old, new in (("augmentation_enabled", "augmentation"),
                                                          ("curriculum_enabled", "curriculum"))},
    **{f"{lst}.template": Migration(
        "user_prompt", "Prompt templates were Python code in the seed system: write the entry's user_prompt / "
        "summary_prompt text (chat members, `dataset: chat`, need none).") for lst in ("targets", "sources")},
    **{f"{lst}.sample_without_replacement": Migration(
        None, "Fusion sampling is always without replacement while the pool lasts.") for lst in ("targets", "sources")},
    "rollout_matching.max_completion_length": Migration(
        "rollout_matching.max_new_tokens", "The rollout budget is `max_new_tokens`."
    ),
}


def find_migration(dotted: str) -> Migration | None:
    """The migration for `dotted` or for the nearest enclosing key listed in the table (list indices
    are ignored: `ops[2].params` matches `ops.params`)."""
    probe = re.sub(r"\[\d+\]", "", dotted)
    while probe:
        if probe in MIGRATIONS:
            return MIGRATIONS[probe]
        probe = probe.rpartition(".")[0]
    return None
