"""Constants shared across packages: one definition each, imported everywhere they are used.

The bottom layer: imports nothing (no torch, nothing from ``src``), so every package, the torch-free
config and dataset code included, may import it.
"""

from __future__ import annotations

from typing import Any

# The label of a token that carries no loss (transformers' / ms-swift's ``ignore_index``).
IGNORE_INDEX: int = -100

# The geometry keys of a record object (exactly one per object, docs/CONTRACTS.md), in canonical order.
GEOMETRY_KEYS: tuple[str, ...] = ("bbox_2d", "poly", "line")

# Qwen3-VL sees images in 32-pixel cells (patch 16 x spatial merge 2): resized / padded image sides are
# kept on multiples of it. (At run time the template's own factor is read from its image processor,
# src/datasets/image_frame.py; this is the default the augmentation ops and their config use.)
IMAGE_SIZE_MULTIPLE: int = 32

# An absent value (a key not written, a field without a default), distinct from an explicit null.
MISSING: Any = object()

__all__ = ["GEOMETRY_KEYS", "IGNORE_INDEX", "IMAGE_SIZE_MULTIPLE", "MISSING"]
