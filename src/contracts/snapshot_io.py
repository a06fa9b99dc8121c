"""What the snapshot generators share: the committed JSON form and the command line
(`--out PATH`, `--check`: compare with the committed file instead of writing it)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def dumps(snapshot: dict[str, Any]) -> str:
    return json.dumps(snapshot, indent=1, sort_keys=True) + "\n"


def snapshot_main(doc: str, build: Callable[[], dict[str, Any]], default_out: Path,
                  argv: Sequence[str] | None = None) -> int:
    """Write `build()` to `--out` (default `default_out`), or with `--check` exit 1 when it differs."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing")
    args = parser.parse_args(argv)
    text = dumps(build())
    if args.check:
        same = args.out.is_file() and args.out.read_text(encoding="utf-8") == text
        print("snapshot up to date" if same else f"snapshot differs from {args.out}")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0
