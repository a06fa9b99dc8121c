"""The process environment for CPU training of the tiny model: one thread, and glibc's malloc kept from
handing the vocabulary-sized buffers back to the kernel between steps.

Each step of the easy recipe allocates several [tokens x 151,680] float buffers (the logits, their
log-softmax, its gradient: ~190 MB each at batch 8). glibc serves any block above 32 MB with a fresh
``mmap`` and ``munmap``s it on free, so every step the kernel faults in and zeroes ~1 GB of new pages:
measured, about a third of the step (``benchmarks/bench_easy_step.py --profile``). With
``glibc.malloc.mmap_max=0`` every block comes from the heap, and a high ``trim_threshold`` keeps freed
heap memory in the process, so the next step reuses the same pages. Only where the memory comes from
changes: every arithmetic operation, and so every loss and weight, is bit-identical (the benchmark
checks the per-step losses). The tunables are read once when a process starts, so they are set in the
environment of the training subprocess, not from inside Python.
"""

from __future__ import annotations

import os

# 4 GiB: freed heap memory above the top is returned to the kernel only past this much.
MALLOC_TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=4294967296"
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}


def with_malloc_tunables(env: dict[str, str]) -> dict[str, str]:
    """``env`` with :data:`MALLOC_TUNABLES` appended to any ``GLIBC_TUNABLES`` the user already set."""
    user = env.get("GLIBC_TUNABLES", "")
    if MALLOC_TUNABLES in user:
        return dict(env)
    return {**env, "GLIBC_TUNABLES": f"{user}:{MALLOC_TUNABLES}" if user else MALLOC_TUNABLES}


def training_env(threads: int | None = 1, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a CPU training subprocess: ``base`` (default: this process's), the malloc
    tunables, and ``threads`` OpenMP/MKL threads with no GPU (``None``: leave threads and devices as they are)."""
    env = dict(os.environ if base is None else base)
    if threads is not None:
        env.update({**ONE_THREAD, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)})
    return with_malloc_tunables(env)
