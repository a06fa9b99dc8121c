"""`validate --deep`: also build the ms-swift argument objects of each runnable preset, as a launch
would (src/boundary/arguments.py: SftArguments / RLHFArguments with transformers'
TrainingArguments checks, the tuner type, the optimizer and LR scheduler), so a preset ms-swift
would reject fails in CI instead of on a GPU node.

What a CPU machine cannot provide is replaced, and said so in a note:
- a model directory (model / teacher / ref / reward model) that does not exist locally: a stand-in
  directory holding only a default Qwen3-VL `config.json` (ms-swift reads nothing else there);
- an optional GPU package the preset needs (deepspeed: the preset's `deepspeed` argument is left
  out; the fast rules already checked its value);
- a GPU (bf16 / fp16 mixed precision is switched off on a CPU-only machine);
- output and logging directories: a temporary directory (building the arguments creates them);
- vLLM servers: not connected to (server settings are checked by src/config/server_mode.py).

Imports ms-swift, transformers and torch (seconds), so `python -m src.config.tools validate --deep` runs
it as a child process: `python -m src.boundary.deep_check --out FILE [--set k=v ...] PATH ...` writes one
JSON object per path (`{"path", "problems": [{"message", "key", "where"}], "notes"}`); plain `validate`
never starts it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

from src.config import ConfigError, Problem, TrainingConfig, load_training_config
from src.config.requirements import DEEPSPEED, installed

MODEL_ARGS = ("model", "teacher_model", "ref_model", "reward_model")


@dataclasses.dataclass(frozen=True)
class DeepResult:
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()


def _stand_in_model(root: Path) -> Path:
    from transformers import Qwen3VLConfig

    folder = root / "stand_in_model"
    if not (folder / "config.json").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        Qwen3VLConfig().to_json_file(str(folder / "config.json"))
    return folder


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def offline_kwargs(cfg: TrainingConfig, work: Path) -> tuple[dict[str, Any], list[str]]:
    """`build_swift_kwargs(cfg)` with what this machine lacks replaced (see the module docstring)."""
    from src.config.swift_args import build_swift_kwargs

    kwargs = build_swift_kwargs(cfg)
    notes: list[str] = []
    for name in MODEL_ARGS:
        value = kwargs.get(name)
        if isinstance(value, str) and value and not Path(value).exists():
            kwargs[name] = str(_stand_in_model(work))
            notes.append(f"{name} {value} does not exist here: checked with a stand-in config.json")
    if kwargs.get("deepspeed") and not installed(DEEPSPEED.module):
        kwargs.pop("deepspeed")
        notes.append("deepspeed is not installed here: checked without the deepspeed argument")
    if any(kwargs.get(k) for k in ("bf16", "fp16")) and not _has_gpu():
        notes.append("no GPU here: checked with bf16/fp16 mixed precision off (transformers refuses it on CPU)")
        kwargs.update({k: False for k in ("bf16", "fp16") if kwargs.get(k)})
    kwargs["output_dir"] = str(work / "output")
    kwargs["logging_dir"] = str(work / "output" / "tb")
    return kwargs, notes


def deep_check(cfg: TrainingConfig) -> DeepResult:
    from .arguments import swift_arguments

    with tempfile.TemporaryDirectory(prefix="validate_deep_") as tmp:
        kwargs, notes = offline_kwargs(cfg, Path(tmp))
        try:
            swift_arguments(cfg, offline=True, kwargs=kwargs)
        except ConfigError as exc:
            return DeepResult(exc.problems, tuple(notes))
    return DeepResult((), tuple(notes))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m src.boundary.deep_check",
                                 description="Build each preset's ms-swift arguments offline (validate --deep).")
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--out", required=True, help="JSON file to write the results to")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    reports = []
    for path in args.paths:
        try:
            result = deep_check(load_training_config(path, overrides=args.overrides))
        except ConfigError as exc:  # validated by the parent first; reported, never dropped
            result = DeepResult(tuple(exc.problems))
        reports.append({"path": path, "problems": [dataclasses.asdict(p) for p in result.problems],
                        "notes": list(result.notes)})
    Path(args.out).write_text(json.dumps(reports))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
