"""Generate `src/config/swift_fields.json`: the ms-swift argument fields each config section accepts.

Run `python -m src.contracts.snapshot_swift_fields` after changing the pinned ms-swift and commit the
result; `tests/config/test_swift_fields_contract.py` regenerates it from the installed ms-swift and
fails with a diff when the two disagree. This module imports ms-swift (and so torch) only inside
`build_snapshot()`; the config package itself reads the committed JSON and never imports swift.

Sections: each dataclass in the MRO of `RLHFArguments` (which extends `SftArguments`) feeds one
section (`CLASS_SECTIONS`); fields declared by several classes of different sections are valid in
each of them (e.g. `temperature`: generation for eval in `training`, rollout sampling in `rlhf`);
`FIELD_SECTIONS` pins fields whose home the class rule gets wrong. An unmapped dataclass (a new
ms-swift mixin) makes the generator fail so that someone decides where its fields belong.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

from .snapshot_io import dumps, snapshot_main

__all__ = ["SNAPSHOT_PATH", "build_snapshot", "dumps", "main"]  # dumps: the contract test compares with it

SNAPSHOT_PATH = Path(__file__).resolve().parents[1] / "config" / "swift_fields.json"

CLASS_SECTIONS: dict[str, str] = {
    "swift.arguments.base_args.model_args.ModelArguments": "model",
    "swift.arguments.base_args.template_args.TemplateArguments": "template",
    "swift.arguments.base_args.data_args.DataArguments": "data",
    "swift.arguments.base_args.quant_args.QuantizeArguments": "quantization",
    "swift.arguments.tuner_args.TunerArguments": "tuner",
    "swift.arguments.base_args.generation_args.GenerationArguments": "training",
    "swift.arguments.base_args.base_args.BaseArguments": "training",
    "swift.ray_utils.arguments.RayArguments": "training",
    "swift.arguments.sft_args.SwanlabArguments": "training",
    "swift.arguments.sft_args.SftArguments": "training",
    "swift.trainers.arguments.TrainArgumentsMixin": "training",
    "swift.trainers.arguments.Seq2SeqTrainingArguments": "training",
    "transformers.training_args_seq2seq.Seq2SeqTrainingArguments": "training",
    "transformers.training_args.TrainingArguments": "training",
    "swift.arguments.rlhf_args.RLHFArguments": "rlhf",
    "swift.arguments.rlhf_args.TeacherModelArguments": "rlhf",
    "swift.arguments.rlhf_args.GRPOArguments": "rlhf",
    "swift.arguments.rlhf_args.PPOArguments": "rlhf",
    "swift.arguments.rlhf_args.RewardModelArguments": "rlhf",
    "swift.rlhf_trainers.args_mixin.GRPOArgumentsMixin": "rlhf",
    "swift.rlhf_trainers.args_mixin.RolloutTrainerArgumentsMixin": "rlhf",
    "swift.rlhf_trainers.args_mixin.VllmArguments": "rlhf",
}

# Fields with a single home regardless of how many classes declare them.
FIELD_SECTIONS: dict[str, str] = {
    # tuner: BaseArguments / TrainArgumentsMixin declare these, but they choose the tuner
    "tuner_type": "tuner",
    "tuner_backend": "tuner",
    "adapters": "tuner",
    "use_swift_lora": "tuner",
    "lora_rank": "tuner",  # RolloutTrainerArgumentsMixin re-declares it for vLLM LoRA: same kwarg
    # model
    "model_kwargs": "model",
    "enable_npu_model_patch": "model",
    # data
    "packing": "data",
    "packing_length": "data",
    "packing_num_proc": "data",
    "packing_strategy": "data",
    "lazy_tokenize": "data",
    "data_seed": "data",
    "dataset_shuffle": "data",
    # template concepts that RLHFArguments / GRPOArguments only re-declare
    "loss_scale": "template",
    "truncation_strategy": "template",
    # training
    "remove_unused_columns": "training",
    # deepspeed
    "deepspeed": "deepspeed",
    "zero_hpz_partition_size": "deepspeed",
    "deepspeed_autotp_size": "deepspeed",
    "ds3_gather_for_generation": "deepspeed",
}

SECTIONS = ("model", "template", "tuner", "training", "data", "rlhf", "deepspeed", "quantization")


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__name__}"


def _type_name(tp: Any) -> str:
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("NoneType", "None")


def _describe_type(tp: Any) -> dict[str, Any]:
    """kind (bool|int|float|str|list|dict|any), nullable, and choices (Literal / Enum values)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    nullable = False
    if origin in (typing.Union, types.UnionType):
        nullable = type(None) in args
        members = [a for a in args if a is not type(None)]
        enums = [a for a in members if isinstance(a, type) and issubclass(a, enum.Enum)]
        if len(members) == 1:
            inner = _describe_type(members[0])
            inner["nullable"] = inner["nullable"] or nullable
            return inner
        if len(enums) == 1 and len(members) == 2 and str in members:
            return {"kind": "str", "nullable": nullable, "choices": [e.value for e in enums[0]]}
        return {"kind": "any", "nullable": True}
    if origin is typing.Literal:
        values = [a for a in args if a is not None]
        kinds = {type(v).__name__ for v in values}
        kind = kinds.pop() if len(kinds) == 1 else "any"
        return {"kind": kind, "nullable": None in args, "choices": values}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"kind": "str", "nullable": nullable, "choices": [e.value for e in tp]}
    if origin in (list, tuple, set) or tp in (list, tuple, set):
        return {"kind": "list", "nullable": nullable}
    if origin is dict or tp is dict:
        return {"kind": "dict", "nullable": nullable}
    if tp in (bool, int, float, str):
        return {"kind": tp.__name__, "nullable": nullable}
    return {"kind": "any", "nullable": True}


def _json_default(f: dataclasses.Field) -> tuple[bool, Any]:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return False, None
    if isinstance(value, enum.Enum):
        value = value.value
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False, None
    return True, value


def build_snapshot() -> dict[str, Any]:
    import swift  # noqa: F401  (heavy: torch, transformers)
    from swift import RLHFArguments, SftArguments

    sft_fields = {f.name: f for f in dataclasses.fields(SftArguments) if f.init}
    rlhf_fields = {f.name: f for f in dataclasses.fields(RLHFArguments) if f.init}
    declared: dict[str, list[str]] = {}
    for cls in RLHFArguments.__mro__:
        if not dataclasses.is_dataclass(cls):
            continue
        if _qualname(cls) not in CLASS_SECTIONS:
            raise SystemExit(f"unmapped ms-swift dataclass {_qualname(cls)}: add it to CLASS_SECTIONS")
        for name in inspect.get_annotations(cls):
            if name in rlhf_fields and not name.startswith("_"):
                declared.setdefault(name, []).append(cls)

    sections: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    hints_cache: dict[type, dict[str, Any]] = {}
    for name in sorted(rlhf_fields):
        classes = declared.get(name, [])
        homes = [FIELD_SECTIONS[name]] if name in FIELD_SECTIONS else sorted(
            {CLASS_SECTIONS[_qualname(c)] for c in classes}
        )
        field = sft_fields.get(name) or rlhf_fields[name]
        tp = field.type
        if isinstance(tp, str):
            owner = classes[0] if classes else RLHFArguments
            hints = hints_cache.setdefault(owner, typing.get_type_hints(owner))
            tp = hints.get(name, Any)
        entry: dict[str, Any] = {"type": _type_name(tp), **_describe_type(tp)}
        if entry["kind"] == "str" and "choices" not in entry:
            # ms-swift re-declares some transformers enums as plain `str`; the values still go
            # through transformers' enum conversion, so the parent's choices hold.
            for cls in classes:
                own = inspect.get_annotations(cls).get(name)
                if own is not None and not isinstance(own, str) and "choices" in _describe_type(own):
                    entry["choices"] = _describe_type(own)["choices"]
                    break
        has_default, default = _json_default(field)
        if has_default:
            entry["default"] = default
        if name in rlhf_fields and name in sft_fields:
            has_rl, rl_default = _json_default(rlhf_fields[name])
            if has_rl and (not has_default or rl_default != default):
                entry["rlhf_default"] = rl_default
        entry["in_sft_arguments"] = name in sft_fields
        entry["declared_in"] = [c.__name__ for c in classes]
        for home in homes:
            sections[home][name] = entry
    from swift.version import __version__

    return {
        "ms_swift_version": __version__,
        "generated_by": "python -m src.contracts.snapshot_swift_fields",
        "sections": sections,
    }


def main(argv: list[str] | None = None) -> int:
    return snapshot_main(__doc__, build_snapshot, SNAPSHOT_PATH, argv)


if __name__ == "__main__":
    sys.exit(main())
