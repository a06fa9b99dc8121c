"""The Stage-2 AB channel schedule: which optimizer step runs channel B.

Optimizer step ``s`` (0-based global step; every micro-batch of a gradient-accumulation step
shares it) runs channel B iff ``floor((s + 1) * b) > floor(s * b)``, else channel A. The
arithmetic is exact: ``b`` is turned into a :class:`~fractions.Fraction` through its decimal
string (``0.1`` -> ``1/10``, not the binary float ``0.1000000000000000055...``), so float error
never flips a step. Over steps ``[0, n)`` exactly ``floor(n * b)`` steps are B (the differences
telescope), so the realized ratio is ``floor(n * b) / n`` and differs from ``b`` by less than
``1 / n``. With ``b = 0.5`` step 0 is A, step 1 is B, step 2 is A, ...

Pure functions of (step, b): every rank computes the same channel without communicating.
"""

from __future__ import annotations

import math
import numbers
from fractions import Fraction
from typing import Literal

Channel = Literal["A", "B"]
RatioLike = float | int | str | Fraction


def b_ratio_fraction(b_ratio: RatioLike) -> Fraction:
    """``b_ratio`` as an exact fraction in [0, 1]; floats go through their shortest decimal repr."""
    if isinstance(b_ratio, bool):
        raise TypeError("b_ratio must be a number, got a bool")
    if isinstance(b_ratio, float):
        if not math.isfinite(b_ratio):
            raise ValueError(f"b_ratio must be finite, got {b_ratio}")
        frac = Fraction(repr(b_ratio))
    elif isinstance(b_ratio, (str, numbers.Rational)):
        frac = Fraction(b_ratio)
    else:
        raise TypeError(f"b_ratio must be a float, int, str or Fraction, got {type(b_ratio).__name__}")
    if not 0 <= frac <= 1:
        raise ValueError(f"b_ratio must be in [0, 1], got {b_ratio!r}")
    return frac


def _check_step(step: int, name: str = "step") -> None:
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise ValueError(f"{name} must be a non-negative int, got {step!r}")


def is_channel_b(step: int, b_ratio: RatioLike) -> bool:
    """True iff optimizer step ``step`` runs channel B: ``floor((s+1)*b) > floor(s*b)``."""
    _check_step(step)
    b = b_ratio_fraction(b_ratio)
    return math.floor((step + 1) * b) > math.floor(step * b)


def channel_for_step(step: int, b_ratio: RatioLike) -> Channel:
    """``"B"`` when :func:`is_channel_b`, else ``"A"``."""
    return "B" if is_channel_b(step, b_ratio) else "A"


def count_b_steps(n_steps: int, b_ratio: RatioLike) -> int:
    """Number of channel-B steps among steps ``[0, n_steps)``: ``floor(n_steps * b)``."""
    _check_step(n_steps, "n_steps")
    return math.floor(n_steps * b_ratio_fraction(b_ratio))


def realized_b_ratio(n_steps: int, b_ratio: RatioLike) -> float:
    """Fraction of channel-B steps among steps ``[0, n_steps)``; 0.0 when ``n_steps == 0``.

    After optimizer step ``s`` has run, the realized ratio so far is ``realized_b_ratio(s + 1, b)``.
    """
    if n_steps == 0:
        _check_step(n_steps, "n_steps")
        return 0.0
    return float(Fraction(count_b_steps(n_steps, b_ratio), n_steps))


__all__ = [
    "Channel",
    "b_ratio_fraction",
    "channel_for_step",
    "count_b_steps",
    "is_channel_b",
    "realized_b_ratio",
]
