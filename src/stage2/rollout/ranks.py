"""Every rank fails together: a rollout (or weight-sync) failure on one rank stops all of them.

A rank that raises while the others go on to their next collective leaves those waiting forever
(the DDP deadlock of the replaced system). So every rank calls these on every Channel-B step,
whether it had work or not, and all of them raise together. Imports only torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .base import RolloutError, RolloutRequest, RolloutResult

T = TypeVar("T")


def rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def all_ranks_ok(flag: bool) -> bool:
    """True iff `flag` is true on every rank (all_reduce MIN); every rank must call it, every time."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return bool(flag)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def on_all_ranks(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` on every rank; when it raised RolloutError on any rank, every rank raises.

    For backend construction (`VllmServerBackend.from_config`), `sync_weights` and `generate`.
    """
    error: RolloutError | None = None
    result: Any = None
    try:
        result = fn(*args, **kwargs)
    except RolloutError as exc:
        error = exc
    if not all_ranks_ok(error is None):
        if error is not None:
            raise error
        raise RolloutError(f"rank {rank()}: a rollout-server call failed on another rank (its error is in that "
                           "rank's log); every rank stops together so that none waits forever in a collective.")
    return result


def rollout_all_ranks(backend: Any, requests: Sequence[RolloutRequest], **kwargs: Any) -> list[RolloutResult]:
    """`backend.generate(requests, **kwargs)` through `on_all_ranks`."""
    return on_all_ranks(backend.generate, requests, **kwargs)
