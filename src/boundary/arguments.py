"""The one place our config becomes ms-swift arguments, guarded.

`swift_arguments(cfg)` builds `SftArguments` (sft, stage2_ab) or `RLHFArguments` (gkd, grpo) from
`build_swift_kwargs(cfg)` (transformers' `TrainingArguments` validation runs inside), then checks
what ms-swift would otherwise check only after the weights loaded: the tuner type (ms-swift's
`prepare_adapter`), and the optimizer and learning-rate scheduler, built exactly as transformers'
`Trainer` builds them, on stand-in parameters with the run's three learning rates (LLM, ViT,
aligner). Any exception raised there becomes a `ConfigError` naming the ms-swift argument(s), the
config key(s) that set them with their file:line, ms-swift's own message and the fix; `src.sft`
prints it and exits 2, no traceback.

`offline=True` (`inspect_config.py validate --deep`) builds the same objects without connecting
to vLLM servers (`_OfflineRLHFArguments`); the caller supplies stand-in model directories.

ms-swift 4.6 hands `logging_dir` to transformers' TensorBoardCallback through
`os.environ.setdefault("TENSORBOARD_LOGGING_DIR", ...)`: a value already in the environment (the
user's shell, or an earlier arguments object in the same process) would silently win over
`training.logging_dir`. `swift_arguments` sets it to the config's directory first (and says so when
it replaces a different inherited value); the offline build leaves the environment as it found it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from src.config import ConfigError, Problem, TrainingConfig
from src.config.swift_args import build_swift_kwargs, config_sections
from src.config.swift_fields import SECTION_KEY_ALIASES

logger = logging.getLogger(__name__)
TENSORBOARD_ENV = "TENSORBOARD_LOGGING_DIR"

# ms-swift arguments our launcher sets itself (build_swift_kwargs), and the config key behind each.
DERIVED_KEYS: dict[str, str] = {
    "dataset": "custom.fusion_config",
    "val_dataset": "custom.fusion_config",
}
# When the optimizer / scheduler message names no argument: the first of these the config sets.
OPTIMIZER_ARGS = ("optim", "optim_args", "lr_scheduler_type", "lr_scheduler_kwargs", "learning_rate")
STAGES = {
    "arguments": "constructing ms-swift's {cls} (with transformers' TrainingArguments checks)",
    "tuner": "checking the tuner type as ms-swift's prepare_adapter does",
    "optimizer": "building the optimizer and LR scheduler as transformers' Trainer does (stand-in parameters)",
}


def swift_keys(cfg: TrainingConfig) -> dict[str, list[str]]:
    """ms-swift argument name -> the dotted config keys that set it."""
    out: dict[str, list[str]] = {}
    for section, values in config_sections(cfg).items():
        for key in values:
            out.setdefault(SECTION_KEY_ALIASES.get((section, key), key), []).append(f"{section}.{key}")
    for name, dotted in DERIVED_KEYS.items():
        out.setdefault(name, [dotted])
    return out


def _mentioned(message: str, names: list[str]) -> list[str]:
    """Argument names `message` mentions: `learning_rate` also as `learning rate`; a one-word name
    (`model`, `beta`) only in argument form (`beta=`, `beta:`, `beta must`, `'beta'`, `args.beta`)."""
    found = []
    for name in sorted(names, key=len, reverse=True):
        if "_" in name:
            spaced = re.escape(name).replace("_", "[_ ]")
            hit = re.search(rf"(?<![\w.]){spaced}(?!\w)", message, re.IGNORECASE)
        else:
            hit = re.search(rf"(args\.{name}\b|[`'\"]{name}[`'\"]|(?<![\w.]){name}\s*(=|:|must|should|is not))",
                            message, re.IGNORECASE)
        if hit and not any(name in longer for longer in found):
            found.append(name)
    return found


def _quoted_values(message: str, kwargs: dict[str, Any], names: list[str]) -> list[str]:
    """Arguments whose string value (as set, or as an absolute path) the message quotes: ms-swift's
    "path: '/abs/dir' not found" names the value, not the argument."""
    found = []
    for name in names:
        value = kwargs.get(name)
        if isinstance(value, str) and len(value) >= 4 and (value in message or os.path.abspath(value) in message):
            found.append(name)
    return found


def boundary_error(exc: BaseException, cfg: TrainingConfig, kwargs: dict[str, Any], stage: str,
                   cls: str = "SftArguments", fallback: tuple[str, ...] = ()) -> ConfigError:
    """`exc` raised at the ms-swift boundary, as a ConfigError naming argument, key, origin and fix.

    The arguments named are those ms-swift's message mentions (set in the config, or known ms-swift
    arguments the config leaves unset, e.g. `lr_scheduler_kwargs`) or whose value it quotes (a model
    directory that does not exist), else the first of `fallback` that the config sets."""
    keys = swift_keys(cfg)
    message = f"{type(exc).__name__}: {exc}".strip().rstrip(".")
    doing = STAGES[stage].format(cls=cls)
    names = _mentioned(message, [n for n in keys if n in kwargs])
    names = names or _quoted_values(message, kwargs, [n for n in keys if n in kwargs])
    unset = [] if names else [n for n in _mentioned(message, list(_all_fields())) if n not in keys]
    if not names and not unset:
        names = [n for n in fallback if n in keys][:1]
    problems = []
    for name in names:
        for dotted in keys[name]:
            value = cfg.source.get(dotted, None)
            problems.append(Problem(
                f"ms-swift argument `{name}` (= {value!r}) was rejected while {doing}: {message}. Fix: change "
                f"{dotted} in {cfg.source.where(dotted)} to a value ms-swift accepts.",
                key=dotted, where=cfg.source.where(dotted)))
    for name in unset:
        dotted = f"{_all_fields()[name]}.{name}"
        problems.append(Problem(
            f"ms-swift rejected the arguments while {doing}: {message}. Fix: set {dotted} (ms-swift argument "
            f"`{name}`, not set in this config).", key=dotted, where=cfg.source.display))
    if not problems:
        problems.append(Problem(
            f"ms-swift rejected the arguments while {doing}: {message}. No config key could be matched to "
            "this message; compare the resolved config (inspect_config.py inspect --explain) with it and "
            "fix the setting it names."))
    return ConfigError(problems, subject=cfg.source.display)


def _all_fields() -> dict[str, str]:
    """Every ms-swift argument of the snapshot -> its (first) config section."""
    from src.config.swift_fields import SWIFT_SECTIONS, swift_sections

    out: dict[str, str] = {}
    for section in SWIFT_SECTIONS:
        for name in swift_sections()[section]:
            out.setdefault(name, section)
    return out


def _arguments_class(cfg: TrainingConfig, offline: bool) -> type:
    from swift import RLHFArguments, SftArguments

    if not cfg.is_rlhf:
        return SftArguments
    return _offline_rlhf_class() if offline else RLHFArguments


def _offline_rlhf_class() -> type:
    from swift import RLHFArguments

    class _OfflineRLHFArguments(RLHFArguments):
        """RLHFArguments that validates a vLLM server-mode config without connecting to the servers."""

        def _init_external_vllm(self) -> None:
            return None

    return _OfflineRLHFArguments


def check_tuner(args: Any) -> None:
    from swift.arguments.base_args.base_args import get_supported_tuners

    if args.tuner_type not in get_supported_tuners():
        raise ValueError(f"Unknown tuner_type: {args.tuner_type}")


def check_optimizer(args: Any) -> None:
    """Optimizer and scheduler as transformers' Trainer builds them (three parameter groups: LLM, ViT,
    aligner learning rates, as ms-swift's multimodal optimizer groups them), on stand-in parameters."""
    import torch
    from transformers import Trainer
    from transformers.optimization import get_scheduler

    optimizer_cls, optimizer_kwargs = Trainer.get_optimizer_cls_and_kwargs(args)
    lrs = [args.learning_rate, *(lr if lr is not None else args.learning_rate for lr in (
        getattr(args, "vit_lr", None), getattr(args, "aligner_lr", None)))]
    groups = [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr} for lr in lrs]
    optimizer = optimizer_cls(groups, **optimizer_kwargs)
    steps = args.max_steps if args.max_steps > 0 else 1000
    get_scheduler(args.lr_scheduler_type, optimizer=optimizer, num_warmup_steps=args.get_warmup_steps(steps),
                  num_training_steps=steps, scheduler_specific_kwargs=args.lr_scheduler_kwargs)


@contextmanager
def tensorboard_dir_env(logging_dir: str | None, *, restore: bool) -> Iterator[None]:
    """``TENSORBOARD_LOGGING_DIR`` = ``logging_dir`` (absolute) while ms-swift builds its arguments, so its
    ``setdefault`` keeps the config's directory; ``restore``: put the previous environment back after."""
    before = os.environ.get(TENSORBOARD_ENV)
    if logging_dir is not None:
        wanted = os.path.abspath(os.path.expanduser(str(logging_dir)))
        if before is not None and os.path.abspath(before) != wanted and not restore:
            logger.warning("%s=%s in the environment is replaced by training.logging_dir=%s (tensorboard "
                           "events go to the config's directory)", TENSORBOARD_ENV, before, wanted)
        os.environ[TENSORBOARD_ENV] = wanted
    try:
        yield
    finally:
        if restore:
            if before is None:
                os.environ.pop(TENSORBOARD_ENV, None)
            else:
                os.environ[TENSORBOARD_ENV] = before


def swift_arguments(cfg: TrainingConfig, *, offline: bool = False, kwargs: dict[str, Any] | None = None) -> Any:
    """The run's ms-swift arguments object, or a ConfigError (see the module docstring)."""
    kwargs = build_swift_kwargs(cfg) if kwargs is None else kwargs
    if os.environ.get("TQDM_DISABLE") == "1" and "disable_tqdm" not in kwargs:
        # Bars are off (src/trainers/console.py): the trainer takes its printer callback, which logs the same
        # lines. Its progress callback would write to a disabled bar's missing `fp` once an evaluation starts.
        kwargs = {**kwargs, "disable_tqdm": True}
    cls = _arguments_class(cfg, offline)
    name = "RLHFArguments" if cfg.is_rlhf else "SftArguments"
    try:
        with tensorboard_dir_env(kwargs.get("logging_dir"), restore=offline):
            args = cls(**kwargs)
    except Exception as exc:
        raise boundary_error(exc, cfg, kwargs, "arguments", name) from exc
    for stage, check, fallback in (("tuner", check_tuner, ("tuner_type",)),
                                   ("optimizer", check_optimizer, OPTIMIZER_ARGS)):
        try:
            check(args)
        except Exception as exc:
            raise boundary_error(exc, cfg, kwargs, stage, name, fallback) from exc
    return args
