"""The constructed Channel-B case shared by the target tests (pixel == bin: W = H = 999)."""

from __future__ import annotations

from src.datasets.records import DenseObject
from src.stage2.matching import MatchPair, MatchResult

W, H = 999, 999


def box(desc: str, *c: float) -> DenseObject:
    return DenseObject(desc, "bbox_2d", c)


# ground truth: cat (0), wire (1, a line), dog (2); reading order: cat, dog, wire
GTS = [box("cat", 10, 10, 100, 100), DenseObject("wire", "line", (300, 800, 900, 800)),
       box("dog", 200, 50, 300, 150)]
# rollout (strict-filtered): ghost (FP), cat (matched to GT 0)
PREDS = [box("ghost", 500, 500, 600, 600), box("cat", 12, 11, 98, 99)]
MATCH = MatchResult((MatchPair(1, 0, 0.9),), (0,), (1, 2))
