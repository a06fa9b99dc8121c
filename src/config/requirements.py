"""Optional GPU packages a config needs, checked at launch before anything heavy loads.

deepspeed, flash-attn and vLLM are not in the base install (they need CUDA); a config that uses
one without it installed would fail deep inside ms-swift or transformers with a traceback. The
check finds the package without importing it (`importlib.util.find_spec`), so it costs nothing.
`inspect`/`validate` do not run it: a GPU preset is valid on a CPU machine.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from .errors import Problem
from .training_config import TrainingConfig

GPU_EXTRA = "pip install -e '.[gpu]'"


@dataclass(frozen=True)
class Requirement:
    key: str
    module: str  # import name
    package: str  # distribution name
    install: str


DEEPSPEED = Requirement("deepspeed.config", "deepspeed", "deepspeed", GPU_EXTRA)
VLLM = Requirement("rlhf.use_vllm", "vllm", "vllm", GPU_EXTRA)
STAGE2_VLLM = Requirement("rollout_matching.backend", "vllm", "vllm", GPU_EXTRA)
FLASH_ATTN = Requirement("model.attn_impl", "flash_attn", "flash-attn",
                         "pip install flash-attn --no-build-isolation (built against the node's CUDA; not in the "
                         "gpu extra)")
FLASH_ATTN_3 = Requirement("model.attn_impl", "flash_attn_interface", "flash-attn 3 (hopper build)",
                           "build flash-attention's hopper/ package (FlashAttention-3) on the node")
ATTN_PACKAGES = {"flash_attn": FLASH_ATTN, "flash_attention_2": FLASH_ATTN, "flash_attention_3": FLASH_ATTN_3}


def needed(cfg: TrainingConfig) -> list[Requirement]:
    out: list[Requirement] = []
    if cfg.deepspeed.get("config"):
        out.append(DEEPSPEED)
    if cfg.model.get("attn_impl") in ATTN_PACKAGES:
        out.append(ATTN_PACKAGES[cfg.model["attn_impl"]])
    if cfg.is_rlhf and cfg.rlhf.get("use_vllm"):
        out.append(VLLM)
    if cfg.rollout_matching is not None and cfg.rollout_matching.backend == "vllm":
        out.append(STAGE2_VLLM)  # the weight sync to the rollout servers uses vLLM's communicator
    return out


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_package_problems(cfg: TrainingConfig) -> list[Problem]:
    return [Problem(
        f"needs the {r.package} package (`{r.module}`), which is not installed in this environment. "
        f"Install it with `{r.install}`, or change {r.key}.", key=r.key, where=cfg.source.where(r.key))
        for r in needed(cfg) if not installed(r.module)]


def launch_problems(cfg: TrainingConfig) -> list[Problem]:
    """The launch checks of this machine, reported together: the optional GPU packages the config needs
    (with the install command) and the vLLM server settings."""
    from .errors import ConfigError
    from .server_mode import validate_server_mode

    problems = missing_package_problems(cfg)
    try:
        validate_server_mode(cfg)
    except ConfigError as exc:
        problems += exc.problems
    return problems
