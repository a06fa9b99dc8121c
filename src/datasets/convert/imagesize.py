"""Image sizes read from the file header only, through the run's own image probe (no pixels decoded)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from src.datasets.image_check import probe


@lru_cache(maxsize=65536)
def header_size(path: Path) -> tuple[int, int] | str:
    """``(width, height)`` of the image at ``path``, or why it cannot be read (the pre-flight's words)."""
    info = probe(path)
    return info.error if info.error is not None else (info.width, info.height)
