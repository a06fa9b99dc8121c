"""The typed `stage2_ab` and `rollout_matching` sections (stage2_ab two-channel training)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .schema_base import PositiveFloat, PositiveInt, Probability, StrictModel


class Stage2Schedule(StrictModel):
    """Optimizer step s runs channel B iff floor((s+1)*b_ratio) > floor(s*b_ratio)."""

    b_ratio: Probability


class ChannelA(StrictModel):
    """Teacher-forced ground truth."""

    loss_weight: Annotated[float, Field(ge=0.0)] = 1.0


class ChannelB(StrictModel):
    """The model's own rollouts, parsed, strict-filtered and matched to ground truth."""

    loss_weight: Annotated[float, Field(ge=0.0)] = 1.0
    fp_neutral: bool = True
    fn_injection: bool = True
    closure_supervision: bool = True
    invalid_fallback: Literal["empty_prefix"] = "empty_prefix"


class Stage2ABConfig(StrictModel):
    schedule: Stage2Schedule
    channel_a: ChannelA = Field(default_factory=ChannelA)
    channel_b: ChannelB = Field(default_factory=ChannelB)


class Decoding(StrictModel):
    temperature: Annotated[float, Field(ge=0.0)] = 0.0
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    do_sample: bool = False

    @model_validator(mode="after")
    def _sampling(self) -> Decoding:
        if self.do_sample and self.temperature == 0.0:
            raise ValueError("do_sample: true needs temperature > 0")
        return self


class Matching(StrictModel):
    """Hungarian matching of predictions to ground truth; pairs under iou_threshold stay unmatched.

    Pair cost ``(1 - iou) + desc_weight * [desc differs]`` (``src/stage2/matching.py``); the desc
    term only ranks eligible pairs, the gate is IoU alone.
    """

    iou_threshold: Probability = 0.5
    cost: Literal["iou"] = "iou"
    desc_weight: Annotated[float, Field(ge=0.0)] = 0.0


class VllmServer(StrictModel):
    host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)]


class RolloutVllm(StrictModel):
    mode: Literal["server", "colocate"] = "server"
    servers: list[VllmServer] = Field(default_factory=list)
    timeout_s: PositiveFloat = 240.0
    gpu_memory_utilization: Annotated[float, Field(gt=0.0, le=1.0)] = 0.9
    tensor_parallel_size: PositiveInt = 1
    enable_prefix_caching: bool = True
    max_model_len: PositiveInt | None = None  # proxied from global_max_length

    @model_validator(mode="after")
    def _servers(self) -> RolloutVllm:
        if self.mode == "server" and not self.servers:
            raise ValueError("mode: server needs at least one entry in servers ({host, port})")
        if self.mode == "colocate" and self.servers:
            raise ValueError("mode: colocate runs vLLM in-process; remove servers")
        return self


class RolloutMatchingConfig(StrictModel):
    backend: Literal["hf", "vllm"] = "hf"
    max_new_tokens: PositiveInt
    decoding: Decoding = Field(default_factory=Decoding)
    matching: Matching = Field(default_factory=Matching)
    vllm: RolloutVllm | None = None

    @model_validator(mode="after")
    def _backend(self) -> RolloutMatchingConfig:
        if self.backend == "vllm" and self.vllm is None:
            raise ValueError("backend: vllm needs a vllm block (mode, servers, ...)")
        if self.backend == "hf" and self.vllm is not None:
            raise ValueError("backend: hf ignores the vllm block; remove it or set backend: vllm")
        return self
