"""Detection evaluation: generate with a checkpoint on a split, score, write predictions / metrics / overlays.

Stable API (docs/evaluation.md): ``evaluate`` and ``score_predictions`` (src/eval/run.py) and the
pure ``score_images`` (src/eval/score.py). Importing this package loads no torch or ms-swift.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EvalError", "evaluate", "score_images", "score_predictions"]


def __getattr__(name: str) -> Any:
    if name in ("evaluate", "score_predictions"):
        from . import run

        return getattr(run, name)
    if name == "score_images":
        from .score import score_images

        return score_images
    if name == "EvalError":
        from .source import EvalError

        return EvalError
    raise AttributeError(name)
