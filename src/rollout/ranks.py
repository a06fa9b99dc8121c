"""Every rank fails together: a rollout (or weight-sync) failure on one rank stops all of them.

A rank that raises while the others go on to their next collective leaves those waiting forever
(the DDP deadlock of the replaced system). So every rank calls these on every Channel-B step,
whether it had work or not, and all of them raise together. Built on :func:`src.distributed.all_ranks_ok`
(its ``together``; ``all_ranks_ok`` and ``rank`` re-exported); imports only torch, lazily.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from src.distributed import all_ranks_ok, rank, together

from .base import RolloutError, RolloutRequest, RolloutResult

T = TypeVar("T")


def on_all_ranks(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` on every rank; when it raised RolloutError on any rank, every rank raises.

    For backend construction (`VllmServerBackend.from_config`), `sync_weights` and `generate`.
    """
    return together(lambda: fn(*args, **kwargs), what="a rollout-server call", catch=RolloutError,
                    elsewhere=RolloutError)


def rollout_all_ranks(backend: Any, requests: Sequence[RolloutRequest], **kwargs: Any) -> list[RolloutResult]:
    """`backend.generate(requests, **kwargs)` through `on_all_ranks`."""
    return on_all_ranks(backend.generate, requests, **kwargs)


__all__ = ["all_ranks_ok", "on_all_ranks", "rank", "rollout_all_ranks"]
