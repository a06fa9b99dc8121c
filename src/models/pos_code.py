"""A fixed 2D sin-cos position code for the tiny vision tower's ``pos_embed`` grid (issue #27).

A released Qwen3-VL vision tower arrives with a learned absolute position embedding that pretraining
has made informative; the random tiny tower's is noise of row norm ~0.16 next to a patch embedding of
norm ~5.6, so its visual tokens carry almost no "where" (rotary position in attention moves queries
and keys, never the values a token passes on). This code gives the stand-in that property: each
row of the ``side x side`` grid is ``[sin(w_k y), cos(w_k y), sin(w_k x), cos(w_k x)]`` over
``dim / 4`` frequencies ``w_k = (pi / side) * base^(k / (dim/4))`` (``base`` 8: the slowest turns half
a circle over the grid, so its two ends differ; the fastest has a period of ~14 of the 48 cells, above
the ~7 cells between the patches of a 128-px image, so it does not alias), row norm ``sqrt(dim / 2)`` (5.66 at dim 64), as large
as the patch embedding. It says nothing about the task: no shapes, colours or boxes.
"""

from __future__ import annotations

import math


def sincos_grid(side: int, dim: int, base: float = 8.0):
    """``[side * side, dim]`` float32 tensor, row-major over (y, x) like ``visual.pos_embed``."""
    import torch

    if dim % 4:
        raise ValueError(f"the 2D sin-cos code needs a width divisible by 4, got {dim}")
    n = dim // 4
    freqs = (math.pi / side) * base ** (torch.arange(n, dtype=torch.float64) / n)
    coords = torch.arange(side, dtype=torch.float64)
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    parts = [f(a.reshape(-1, 1) * freqs) for a in (y, x) for f in (torch.sin, torch.cos)]
    return torch.cat(parts, dim=1).to(torch.float32)
