#!/usr/bin/env python
"""Validate dense-detection JSONL files against the record contract (docs/CONTRACTS.md).

    python scripts/validate_jsonl.py FILE.jsonl [FILE.jsonl ...] [--no-image-check | --decode]

Every bad record is listed as ``file:line: reason``, then a summary table. Images are checked from
their headers (exists, readable, size equals the record's); ``--decode`` decodes every pixel as
training does (finds truncated files; slower). Images with an EXIF orientation other than 1 are
listed as warnings (the stored pixels are trained on). Exit status:
0 all records valid, 1 some record is bad, 2 usage error or a file cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from src.datasets.records import GEOMETRY_KEYS
from src.datasets.validate import DataFileError, FileReport, validate_jsonl

EXIT_OK, EXIT_BAD_RECORDS, EXIT_USAGE = 0, 1, 2


def _console(**kwargs) -> Console:
    """Text from files and records (paths, desc strings, `file:100:`) is printed as is: no markup,
    no `:emoji:` codes, no highlighting."""
    return Console(highlight=False, soft_wrap=True, emoji=False, markup=False, **kwargs)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", metavar="FILE.jsonl", help="JSONL files to validate")
    p.add_argument("--no-image-check", action="store_true",
                   help="skip image existence and size checks (structure and coordinates only)")
    p.add_argument("--decode", action="store_true",
                   help="decode every image fully, as training does (finds truncated or corrupt files)")
    return p


def _validate(path: Path, check_images: bool, decode: bool, err: Console) -> FileReport:
    if not err.is_terminal:
        return validate_jsonl(path, check_images=check_images, full_decode=decode)
    size = path.stat().st_size if path.is_file() else 0
    columns = (TextColumn("{task.description}", markup=False), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(str(path), total=size)
        pending = [0]

        def advance(n: int) -> None:  # batch updates: one per MiB, not one per line
            pending[0] += n
            if pending[0] >= 1 << 20:
                progress.advance(task, pending[0])
                pending[0] = 0

        report = validate_jsonl(path, check_images=check_images, full_decode=decode, on_progress=advance)
        progress.advance(task, pending[0])
        return report


def _table(reports: list[FileReport]) -> Table:
    table = Table(title="JSONL validation", caption="object counts cover valid records")
    table.add_column("file")
    for name in ("records", "bad records", *GEOMETRY_KEYS):
        table.add_column(name, justify="right")
    for r in reports:
        table.add_row(r.path, str(r.records), str(r.bad_records),
                      *(str(r.geometry_counts.get(k, 0)) for k in GEOMETRY_KEYS))
    return table


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.decode and args.no_image_check:
        _parser().error("--decode checks images; it cannot be combined with --no-image-check")
    out = _console()
    if not out.is_terminal:  # logs and pipes: wide enough that table rows never wrap
        out = _console(width=max(100, 70 + max(map(len, args.files))))
    err = _console(stderr=True)
    reports, unreadable = [], []
    for name in args.files:
        try:
            report = _validate(Path(name), not args.no_image_check, args.decode, err)
        except DataFileError as e:
            unreadable.append(str(e))
            continue
        reports.append(report)
        for problem in report.problems:
            out.print(str(problem), markup=False)
        for note in report.warnings:
            err.print(f"warning: {note}", markup=False)
    if reports:
        out.print(_table(reports))
    for message in unreadable:
        err.print(f"error: {message}", markup=False)
    bad = sum(r.bad_records for r in reports)
    records = sum(r.records for r in reports)
    if unreadable:
        out.print(f"FAILED: {len(unreadable)} file(s) could not be read", markup=False)
        return EXIT_USAGE
    if bad:
        out.print(f"FAILED: {bad} of {records} records are bad", markup=False)
        return EXIT_BAD_RECORDS
    out.print(f"OK: {records} records valid", markup=False)
    return EXIT_OK


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
