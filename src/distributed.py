"""The collectives of every multi-rank path (telemetry sums, Channel-B metric windows, detection eval,
the manifest's realized counts, "every rank fails together").

Without an initialised process group (a single process) each function answers for the one rank
(a copy, ``[x]``, ``flag``), so callers need no ``if distributed`` of their own. With one, every rank must call it at the same point
with a tensor of the same shape: a collective skipped on one rank leaves the others waiting forever
(invariant ``ddp.rank_symmetric``, tests/support/invariants.py). Under NCCL a CPU tensor is moved to the current
CUDA device for the collective and the result handed back on the caller's device.

The bottom layer: imports nothing from ``src``; torch only inside the functions, so importing this
module stays light.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    import torch

ReduceOp = Literal["sum", "max", "min"]
T = TypeVar("T")
logger = logging.getLogger(__name__)


def is_distributed() -> bool:
    """Whether a torch.distributed process group is initialised."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def shutdown() -> None:
    """Destroy the process group at the end of a run. A gloo group left to the interpreter's exit can abort a
    rank after training finished ("terminate called without an active exception", exit -6), which torchrun
    then reports as a failed run."""
    import torch.distributed as dist

    if is_distributed():
        dist.destroy_process_group()


def rank() -> int:
    """This process's rank (0 without a process group)."""
    import torch.distributed as dist

    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """The number of ranks (1 without a process group)."""
    import torch.distributed as dist

    return dist.get_world_size() if is_distributed() else 1


def _on_backend_device(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` where the backend can reduce it: NCCL needs the current CUDA device."""
    import torch.distributed as dist

    return tensor.cuda() if dist.get_backend() == "nccl" and not tensor.is_cuda else tensor


def all_reduce(tensor: torch.Tensor, op: ReduceOp = "sum") -> torch.Tensor:
    """A new tensor: ``tensor`` reduced elementwise (sum / max / min) over every rank, on
    ``tensor``'s device (``tensor`` itself is left as it is; a copy of it without a process group)."""
    if not is_distributed():
        return tensor.clone()
    import torch.distributed as dist

    ops = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}
    out = _on_backend_device(tensor.clone())
    dist.all_reduce(out, op=ops[op])
    return out.to(tensor.device)


def all_gather(tensor: torch.Tensor) -> list[torch.Tensor]:
    """Every rank's ``tensor`` (the same shape and dtype on every rank), in rank order, on ``tensor``'s device."""
    if not is_distributed():
        return [tensor.clone()]
    import torch
    import torch.distributed as dist

    local = _on_backend_device(tensor)
    rows = [torch.empty_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(rows, local)
    return [r.to(tensor.device) for r in rows]


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's picklable ``obj``, in rank order (``[obj]`` without a process group)."""
    if not is_distributed():
        return [obj]
    import torch.distributed as dist

    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, obj)
    return parts


def all_ranks_ok(flag: bool) -> bool:
    """True iff ``flag`` is true on every rank (an all-reduce MIN): the one "every rank fails together"
    primitive. Every rank must call it, every time, whether its own work succeeded or not, and then
    raise (its own error, or "failed on another rank") when it returns False."""
    if not is_distributed():
        return bool(flag)
    import torch

    return bool(all_reduce(torch.tensor([1 if flag else 0], dtype=torch.int32), "min").item())


def together(work: Callable[[], T], *, what: str, catch: type[BaseException] | tuple[type[BaseException], ...] = Exception,
             elsewhere: Callable[[str], BaseException] = RuntimeError) -> T:
    """``work()`` on this rank; when it raised ``catch`` on any rank, every rank raises together (built on
    :func:`all_ranks_ok`): this rank's own error (logged with ``what``), or ``elsewhere(message)`` on the
    ranks where ``work`` succeeded. Every rank must call it at the same point."""
    error: BaseException | None = None
    result: Any = None
    try:
        result = work()
    except catch as exc:
        error = exc
        logger.error("rank %d: %s failed: %s: %s", rank(), what, type(exc).__name__, exc)
    if not all_ranks_ok(error is None):
        if error is not None:
            raise error
        raise elsewhere(f"rank {rank()}: {what}: another rank failed (its error is in that rank's log); every "
                        "rank stops together so that none waits forever in a collective.")
    return result


__all__ = [
    "ReduceOp", "all_gather", "all_gather_object", "all_ranks_ok", "all_reduce", "is_distributed", "rank",
    "together", "world_size",
]
