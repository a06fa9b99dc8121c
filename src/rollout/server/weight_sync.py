"""Push the learner's weights into `swift rollout` servers through ms-swift's own `VLLMClient`.

What travels: every parameter under the name the checkpoint (and so vLLM's loader) uses, with LoRA
merged *at tensor level* (`W + delta(adapter)` computed into a new tensor, the learner's weights
are never modified, unlike PEFT's merge/unmerge which drifts in bf16). Transport is ms-swift 4.6.0's
server-mode path: `VLLMClient.init_communicator` (an NCCL group between rank 0 and the server's
workers), then per bucket `update_flattened_params` (`FlattenedTensorBucket`), then
`process_weights_after_loading`, `reset_prefix_cache` and `reset_encoder_cache`.

Only global rank 0 talks to the servers. Every HTTP call of the client is bounded by the configured
timeout; the NCCL broadcast itself is bounded by NCCL's own timeout. ZeRO-3 (sharded parameters)
is refused: gathering them would need every rank inside this call. Needs vLLM on the learner (the
GPU extra), so on CPU only `merged_named_tensors` runs (tests/stage2/test_vllm_server_weights.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ..base import RolloutError
from .contract import vllm_param_name
from .transport import server_url

DEFAULT_GROUP_PORT = 51216  # ms-swift's default vllm_server_group_port (one port per server from here)
_BUCKET_MB = int(os.environ.get("SWIFT_UPDATE_WEIGHTS_BUCKET_SIZE", "512"))


def _unwrap(model: Any) -> Any:
    while hasattr(model, "module") and not hasattr(model, "peft_config"):  # DDP / DeepSpeed engine
        model = model.module
    return model


def merged_named_tensors(model: Any) -> Iterator[tuple[str, Any]]:
    """(vLLM checkpoint name, tensor) for every parameter, LoRA deltas of active adapters added."""
    import torch
    from peft.tuners.lora import LoraLayer

    model = _unwrap(model)
    is_peft = hasattr(model, "peft_config")
    lora_layers = {name: module for name, module in model.named_modules() if isinstance(module, LoraLayer)}
    with torch.no_grad():
        for name, param in model.named_parameters():
            if hasattr(param, "ds_id"):
                raise RolloutError("weight sync to the vLLM rollout server got a ZeRO-3 sharded parameter "
                                   f"({name}); server-mode rollouts support DeepSpeed ZeRO-2 or no DeepSpeed. "
                                   "Set deepspeed.config: zero2.")
            target = vllm_param_name(name, is_peft=is_peft)
            if target is None:
                continue
            tensor = param.data
            owner = name.rsplit(".base_layer.", 1)[0] if ".base_layer." in name else None
            layer = lora_layers.get(owner) if owner is not None else None
            if layer is not None and name.endswith(".base_layer.weight") and not layer.merged \
                    and not layer.disable_adapters:
                tensor = _with_deltas(layer, tensor, name)
            yield target, tensor


def _with_deltas(layer: Any, weight: Any, name: str) -> Any:
    merged = weight
    for adapter in layer.active_adapters:
        if adapter not in layer.lora_A and adapter not in getattr(layer, "lora_embedding_A", {}):
            continue
        if getattr(layer, "use_dora", {}).get(adapter):
            raise RolloutError(f"weight sync cannot merge the DoRA adapter {adapter!r} of {name}; use plain LoRA "
                               "with vLLM server rollouts (tuner.use_dora: false).")
        merged = merged + layer.get_delta_weight(adapter).to(dtype=weight.dtype, device=weight.device)
    return merged


def buckets(named: Iterable[tuple[str, Any]], bucket_mb: int = _BUCKET_MB) -> Iterator[list[tuple[str, Any]]]:
    limit, bucket, size = bucket_mb * 1024 * 1024, [], 0
    for name, tensor in named:
        nbytes = tensor.numel() * tensor.element_size()
        if bucket and size + nbytes > limit:
            yield bucket
            bucket, size = [], 0
        bucket.append((name, tensor))
        size += nbytes
    if bucket:
        yield bucket


def _timeout_session(timeout_s: float) -> Any:
    import requests

    class TimeoutSession(requests.Session):
        def request(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("timeout", timeout_s)
            return super().request(*args, **kwargs)

    return TimeoutSession()


class ServerWeightSync:
    """Rank 0's handle on the servers' weight-update routes (created on the first `push`)."""

    def __init__(self, servers: Sequence[tuple[str, int]], *, timeout_s: float,
                 group_port: int = DEFAULT_GROUP_PORT):
        self.servers = list(servers)
        self.timeout_s = timeout_s
        self.group_port = group_port
        self._client: Any = None

    def _where(self) -> str:
        return ", ".join(server_url(h, p) for h, p in self.servers)

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        try:
            import torch
            from swift.rlhf_trainers.vllm_client import VLLMClient
            from swift.utils import is_vllm_available
        except ImportError as exc:
            raise RolloutError(f"weight sync to the vLLM rollout server(s) {self._where()} cannot start: {exc}. "
                               "Install the GPU extra (vllm) in the learners' environment.") from exc
        if not is_vllm_available() or not torch.cuda.is_available():
            raise RolloutError(f"weight sync to the vLLM rollout server(s) {self._where()} needs vLLM and a CUDA "
                               "device on the learner (NCCL broadcast); this process has "
                               f"vllm={'yes' if is_vllm_available() else 'no'}, "
                               f"cuda={'yes' if torch.cuda.is_available() else 'no'}.")
        try:
            client = VLLMClient(hosts=[h for h, _ in self.servers], server_ports=[p for _, p in self.servers],
                                group_ports=self.group_port, connection_timeout=self.timeout_s)
            client.sessions = [_timeout_session(self.timeout_s) for _ in self.servers]
            client.close_communicator()
            client.init_communicator(device=torch.cuda.current_device())
        except Exception as exc:
            raise RolloutError(
                f"weight sync to the vLLM rollout server(s) {self._where()} (POST /init_communicator/) failed: "
                f"{type(exc).__name__}: {exc}. The NCCL group needs group port {self.group_port} (+1 per "
                "server) free on this node and the server started with `swift rollout` (never --api_key, "
                "which breaks ms-swift 4.6.0's weight sync); check the server log "
                "(<output_dir>/rollout_server.log under scripts/train_stage2.sh).") from exc
        self._client = client
        return client

    def push(self, model: Any) -> int:
        """Send all weights; returns the number of tensors. Call on global rank 0 only."""
        from swift.rlhf_trainers.utils import FlattenedTensorBucket

        client = self._connect()
        count = 0
        try:
            for bucket in buckets(merged_named_tensors(model)):  # one bucket of merged tensors at a time
                flat = FlattenedTensorBucket(named_tensors=bucket)
                client.update_flattened_params(flat.get_metadata(), flat.get_flattened_tensor())
                count += len(bucket)
            client.process_weights_after_loading()
            client.reset_prefix_cache()
            if hasattr(client, "reset_encoder_cache"):
                client.reset_encoder_cache()
        except RolloutError:
            raise
        except Exception as exc:
            raise RolloutError(
                f"weight sync to the vLLM rollout server(s) {self._where()} (POST /update_flattened_params/) "
                f"failed after {count} tensor(s): {type(exc).__name__}: {exc}. The server may have died or "
                "run out of memory: check its log; the rollouts would otherwise come from stale weights, so "
                "the run stops.") from exc
        return count

    def close(self) -> None:
        if self._client is not None:
            self._client.close_communicator()
            self._client = None
