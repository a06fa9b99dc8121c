"""Run a worker on two real gloo ranks (forked CPU processes) and collect what each reported."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch.multiprocessing as mp


def run_two_ranks(worker: Callable[[int, str, Any], None], tmp_path: Path, timeout_s: float = 60) -> tuple[dict, list]:
    """``worker(rank, init_method, shared_dict)`` on ranks 0 and 1; returns (the shared dict, the hung processes)."""
    with mp.Manager() as manager:
        shared = manager.dict()
        ctx = mp.start_processes(worker, args=(f"file://{tmp_path / 'pg'}", shared), nprocs=2, join=False,
                                 start_method="fork")
        for process in ctx.processes:
            process.join(timeout_s)
        hung = [p for p in ctx.processes if p.is_alive()]
        for p in hung:
            p.kill()
        return dict(shared), hung
