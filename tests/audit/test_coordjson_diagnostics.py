"""Golden diagnostics of the CoordJSON boundary (strict / salvage transpile and parse_prediction).

Pins, for a corpus of well-formed, malformed and truncated outputs, what the model-output boundary
keeps, what it drops and why (reason, message, position): a change here changes Channel-B targets,
rewards and the strict-drop metrics. Re-record deliberately with
`python tests/audit/test_coordjson_diagnostics.py --write` and review the diff.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from coordjson_corpus import CORPUS, observe

GOLDEN = Path(__file__).resolve().parent / "data" / "coordjson_golden.json"


def _golden() -> list[dict]:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_corpus_matches_golden_file() -> None:
    assert [(g["text"], g["coords"]) for g in _golden()] == CORPUS, \
        "the corpus changed: re-record the golden file (see the module doc)"


@pytest.mark.parametrize("index", range(len(CORPUS)))
def test_coordjson_diagnostics_are_stable(index: int) -> None:
    expected = _golden()[index]
    got = json.loads(json.dumps(observe(expected["text"], expected["coords"]), ensure_ascii=False))
    assert sorted(got) == sorted(expected.keys() - {"text", "coords"}), "re-record the golden file"
    for key in sorted(got):
        assert got[key] == expected[key], (
            f"[invariant assistant.coordjson_before_json] at src.datasets.coordjson ({key}) for corpus item "
            f"{index} {expected['text'][:60]!r}: expected {expected[key]}, got {got[key]}")


if __name__ == "__main__":
    if "--write" in sys.argv:
        gold = [{"text": t, "coords": c, **observe(t, c)} for t, c in CORPUS]
        GOLDEN.write_text(json.dumps(gold, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
