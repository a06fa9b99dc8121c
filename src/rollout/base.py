"""The one interface every rollout backend implements (stage2_ab Channel B, in-training detection eval).

A backend turns prompt-only conversations into completions. It never parses them: Channel B
hands each `RolloutResult.text` to `src.stage2.pipeline.channel_b_sample` (CoordJSON salvage
parse -> strict filter -> matching -> targets).

Contract shared by all backends (tested per backend):
- `generate` returns exactly one result per request, in request order.
- `prompt_ids`: the token ids the backend actually conditioned on. The trainer compares them with
  its local encoding of the same conversation and fails the run on any difference (template or
  tokenizer drift would otherwise change the objective silently).
- Failures (server down, timeout, malformed response) raise `RolloutError` with a one-paragraph
  message naming the backend, the endpoint and the fix; callers make every rank fail together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


class RolloutError(RuntimeError):
    """A rollout backend could not produce completions."""


@dataclass(frozen=True)
class RolloutRequest:
    """One prompt: ms-swift conversation messages (no assistant turn) and its images."""

    messages: list[dict[str, Any]]
    images: list[Any] = field(default_factory=list)  # PIL images or paths
    prompt_ids: list[int] | None = None  # the trainer's local encoding of the prompt, when known


@dataclass(frozen=True)
class RolloutResult:
    text: str  # decoded completion, special tokens kept (coordinate tokens must survive)
    token_ids: list[int]  # completion token ids
    prompt_ids: list[int] | None  # ids the backend conditioned on (None if it cannot tell)
    finish_reason: str | None = None  # "stop" | "length" | None


@runtime_checkable
class RolloutBackend(Protocol):
    name: str

    def generate(self, requests: Sequence[RolloutRequest], *, max_new_tokens: int, temperature: float,
                 top_p: float, do_sample: bool, seed: int | None = None) -> list[RolloutResult]: ...
