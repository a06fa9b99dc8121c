from __future__ import annotations

import json
from pathlib import Path

import pytest

from src.datasets.convert.__main__ import main


@pytest.fixture
def convert(capsys):
    """Run the converter CLI in-process: ``(exit code, stdout, stderr, report dict)``."""

    def run(*argv: str | Path) -> tuple[int, str, str, dict | None]:
        args = [str(a) for a in argv]
        out = Path(args[args.index("--out") + 1])
        report = out.with_suffix(".report.json")
        code = main([*args, "--report", str(report)] if args[0] != "to-coco" else args)
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        data = json.loads(report.read_text()) if report.is_file() else None
        return code, captured.out, captured.err, data

    return run
