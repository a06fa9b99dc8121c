"""The single mapping from a `TrainingConfig` to flat ms-swift `SftArguments` / `RLHFArguments`
keyword arguments. Imports no ms-swift: the caller constructs the arguments object.

- Section keys are ms-swift argument names (the snapshot guarantees it); `deepspeed.config`
  becomes `deepspeed`. Two sections never set the same argument (validation rejects it).
- Repo-relative paths (`PATH_KEYS`, a DeepSpeed JSON) become absolute.
- Models are local directories (no hub is reachable): `model_type` defaults to `qwen3_vl`
  (also `teacher_model_type` / `ref_model_type` when those models are set) and `check_model`
  to False. Explicit values in the config win.
- `dataset` / `val_dataset` list the fusion config's JSONL files (targets then sources; targets'
  val files, from `cfg.fusion`) so that ms-swift's argument checks see the run's real inputs; the
  dispatcher builds the fusion dataset itself from `cfg.fusion`.
- vLLM server mode: `vllm_max_model_len` is left out (ms-swift ignores it for an external server
  and warns); the server launcher passes it to `swift rollout` from the resolved config.
- `training.effective_batch_size` (a launcher key) becomes `gradient_accumulation_steps` for the
  launch's world size (`WORLD_SIZE`, 1 without a launcher); it must divide exactly.
- `cfg.is_rlhf` (the mode's `ModeSpec.arguments`) tells which class to build: RLHFArguments or
  SftArguments; an RLHF mode's `rlhf_type` is set from its spec when the config does not write it.
"""

from __future__ import annotations

import os
from typing import Any

from .paths import resolve_repo_path
from .schema_training import gradient_accumulation_steps
from .swift_fields import SECTION_KEY_ALIASES
from .training_config import PATH_KEYS, TrainingConfig

DEFAULT_MODEL_TYPE = "qwen3_vl"


def config_sections(cfg: TrainingConfig) -> dict[str, dict[str, Any]]:
    return {
        "model": cfg.model,
        "template": cfg.template,
        "tuner": cfg.tuner,
        "training": cfg.training,
        "data": cfg.data,
        "rlhf": cfg.rlhf,
        "deepspeed": cfg.deepspeed,
        "quantization": cfg.quantization,
    }


def _absolute(value: Any) -> Any:
    if isinstance(value, str) and value:
        return str(resolve_repo_path(value))
    if isinstance(value, list):
        return [_absolute(v) for v in value]
    return value


def launch_world_size() -> int:
    """Processes of this launch (torchrun / deepspeed set WORLD_SIZE; 1 without them)."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))


def build_swift_kwargs(cfg: TrainingConfig, world_size: int | None = None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    path_args = {key.split(".", 1)[1] for key in PATH_KEYS if not key.startswith("custom.")}
    for section, values in config_sections(cfg).items():
        for key, value in values.items():
            name = SECTION_KEY_ALIASES.get((section, key), key)
            kwargs[name] = _absolute(value) if name in path_args else value
    ds = kwargs.get("deepspeed")
    if isinstance(ds, str) and ds.endswith(".json"):
        kwargs["deepspeed"] = str(resolve_repo_path(ds))

    kwargs.setdefault("model_type", DEFAULT_MODEL_TYPE)
    kwargs.setdefault("check_model", False)
    for model_key, type_key in (("teacher_model", "teacher_model_type"), ("ref_model", "ref_model_type")):
        if kwargs.get(model_key):
            kwargs.setdefault(type_key, DEFAULT_MODEL_TYPE)

    fusion = cfg.fusion  # loaded once, with the config
    if fusion is not None:
        entries = (*fusion.targets, *fusion.sources)
        kwargs["dataset"] = [str(e.train_path) for e in entries]
        kwargs["val_dataset"] = [str(t.val_path) for t in fusion.targets if t.val_path is not None]

    if cfg.schedule.effective_batch_size is not None:
        kwargs["gradient_accumulation_steps"] = gradient_accumulation_steps(
            cfg.schedule.effective_batch_size, int(kwargs.get("per_device_train_batch_size", 1)),
            launch_world_size() if world_size is None else world_size)

    if cfg.spec.rlhf_type is not None:  # a mode selected by `mode:` alone
        kwargs.setdefault("rlhf_type", cfg.spec.rlhf_type)
    if kwargs.get("vllm_mode") == "server":
        kwargs.pop("vllm_max_model_len", None)
    return kwargs
