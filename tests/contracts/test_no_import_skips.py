"""A broken install must fail CI, not pass it by skipping: no test may `importorskip` a dependency
(every one of them is pinned in pyproject.toml, so a missing one is a broken environment)."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_test_skips_on_a_missing_import():
    offenders = [f"{p.relative_to(TESTS)}:{n}" for p in sorted(TESTS.rglob("*.py")) if p != Path(__file__).resolve()
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if re.search(r"importorskip\(|except (ModuleNotFoundError|ImportError)\b.*\n?.*skip", line)]
    assert offenders == [], f"import the dependency plainly instead of skipping: {offenders}"
