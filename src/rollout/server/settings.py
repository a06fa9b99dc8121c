"""What a config says about its rollout server, and the `swift rollout` flags and learner overrides
that follow from it (pure functions of the typed config; no torch, no ms-swift).

Server flags come from the resolved config: stage2_ab reads `rollout_matching.vllm` (falling back
to `rlhf.vllm_*` for knobs it does not have), GRPO/GKD server mode reads `rlhf.vllm_*`. Tensor
parallel is the configured size, data parallel fills the server GPUs; the max model len is the
resolved server length (`server_max_model_len`, proxied from `global_max_length`); the
template/model keys that change how a prompt is encoded are passed too, so the server's prompt
token ids equal the learner's. Never `--api_key` (it breaks ms-swift 4.6.0's weight sync).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from src.config import TrainingConfig
from src.config.modes import ServerRole
from src.config.server_mode import as_list, is_server_mode, rollout_matching_server_mode, server_max_model_len

from .transport import server_url

# Template/model keys that change how the server encodes a prompt (kept equal to the learner's).
TEMPLATE_KEYS = ("template", "system", "max_pixels", "agent_template", "enable_thinking", "add_non_thinking_prefix",
                 "preserve_thinking", "response_prefix", "norm_bbox", "use_chat_template", "template_backend")
MODEL_KEYS = ("model_type", "torch_dtype", "rope_scaling", "model_kwargs", "new_special_tokens")
DEFAULT_MODEL_TYPE = "qwen3_vl"


@dataclass
class ServerSettings:
    """What the config says about its rollout server(s)."""

    kind: ServerRole  # which role of src.config.modes.server_roles: rollout_matching (stage2_ab) | rlhf
    servers: list[tuple[str, int]]
    uses_base_url: bool
    tensor_parallel_size: int
    gpu_memory_utilization: float | None
    max_model_len: int | None
    enforce_eager: bool
    extra: dict[str, Any] = field(default_factory=dict)  # vllm_* flags passed only when set


def _rlhf(cfg: TrainingConfig, key: str) -> Any:
    return cfg.rlhf.get(key)


def server_settings(cfg: TrainingConfig) -> ServerSettings | None:
    """None when the config does not use a vLLM rollout server."""
    extra_keys = ("vllm_enable_prefix_caching", "vllm_limit_mm_per_prompt", "vllm_max_num_seqs")
    if rollout_matching_server_mode(cfg):
        v = cfg.rollout_matching.vllm
        extra = {k: _rlhf(cfg, k) for k in extra_keys}
        extra["vllm_enable_prefix_caching"] = v.enable_prefix_caching
        for own, flag in (("limit_mm_per_prompt", "vllm_limit_mm_per_prompt"), ("max_num_seqs", "vllm_max_num_seqs")):
            if getattr(v, own, None) is not None:
                extra[flag] = getattr(v, own)
        eager = getattr(v, "enforce_eager", None)
        return ServerSettings(
            kind="rollout_matching", servers=[(s.host, s.port) for s in v.servers], uses_base_url=False,
            tensor_parallel_size=v.tensor_parallel_size, gpu_memory_utilization=v.gpu_memory_utilization,
            max_model_len=server_max_model_len(cfg),
            enforce_eager=bool(eager if eager is not None else _rlhf(cfg, "vllm_enforce_eager")),
            extra=extra)
    if is_server_mode(cfg):
        urls = as_list(_rlhf(cfg, "vllm_server_base_url"))
        hosts, ports = as_list(_rlhf(cfg, "vllm_server_host")), as_list(_rlhf(cfg, "vllm_server_port"))
        servers: list[tuple[str, int]] = []
        if urls:
            servers = [((parts := urlsplit(str(url))).hostname or "", parts.port or 0) for url in urls]
        elif hosts and ports:
            servers = list(zip(hosts, ports))
        return ServerSettings(
            kind="rlhf", servers=servers, uses_base_url=bool(urls),
            tensor_parallel_size=int(_rlhf(cfg, "vllm_tensor_parallel_size") or 1),
            gpu_memory_utilization=_rlhf(cfg, "vllm_gpu_memory_utilization"),
            max_model_len=server_max_model_len(cfg),
            enforce_eager=bool(_rlhf(cfg, "vllm_enforce_eager")),
            extra={k: _rlhf(cfg, k) for k in extra_keys})
    return None


def cli_values(value: Any) -> list[str]:
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, dict):
        return [json.dumps(value, sort_keys=True)]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def server_flags(cfg: TrainingConfig, settings: ServerSettings, model_dir: Path, host: str, port: int,
                 data_parallel_size: int) -> dict[str, Any]:
    flags: dict[str, Any] = {"model": str(model_dir), "model_type": DEFAULT_MODEL_TYPE}
    flags.update({k: cfg.model[k] for k in MODEL_KEYS if cfg.model.get(k) is not None})
    flags.update({k: cfg.template[k] for k in TEMPLATE_KEYS if cfg.template.get(k) is not None})
    flags.update({
        "host": host, "port": port,
        "vllm_tensor_parallel_size": settings.tensor_parallel_size,
        "vllm_data_parallel_size": data_parallel_size,
        "vllm_max_model_len": settings.max_model_len,
        "vllm_gpu_memory_utilization": settings.gpu_memory_utilization,
        "vllm_enforce_eager": settings.enforce_eager,
    })
    flags.update({k: v for k, v in settings.extra.items() if v is not None})
    flags = {k: v for k, v in flags.items() if v is not None}
    assert "api_key" not in flags  # never: it breaks ms-swift 4.6.0's weight sync
    return flags


def learner_overrides(settings: ServerSettings, host: str, port: int) -> list[str]:
    if settings.kind == "rollout_matching":
        return [f"rollout_matching.vllm.servers=[{{host: '{host}', port: {port}}}]"]
    if settings.uses_base_url:
        return [f"rlhf.vllm_server_base_url=['{server_url(host, port)}']"]
    return [f"rlhf.vllm_server_host=['{host}']", f"rlhf.vllm_server_port=[{port}]"]


