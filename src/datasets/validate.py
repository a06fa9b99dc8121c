"""JSONL validation against the record contract, with the filesystem checks.

:func:`validate_jsonl` reads a file line by line and returns a :class:`FileReport` holding
every problem as ``file:line: reason`` (structure, coordinates, image existence, image size
read from the file header only, or every pixel decoded with ``full_decode``). :func:`load_records` is the eager loader for small files:
it returns every record or raises :class:`RecordError` listing every problem. For large
files use :class:`src.datasets.jsonl_index.JsonlIndex`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from src.datasets.image_check import (
    DECODE_ERRORS,
    ImageInfo,
    decode,
    orientation_warning,
    probe,
    record_image_fault,
)
from src.datasets.records import (
    JsonLineError,
    Problem,
    Record,
    RecordError,
    RecordSource,
    build_record,
    check_record,
    is_blank_line,
    loads_json_line,
)


class DataFileError(OSError):
    """A data file cannot be read at all (missing, a directory, no permission)."""


@dataclass
class FileReport:
    """Outcome of validating one JSONL file. Object counts cover valid records only."""

    path: str
    records: int = 0
    bad_records: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # EXIF orientation notes: the record is valid
    geometry_counts: Counter = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.problems


ImageProbeFn = Callable[[Path], ImageInfo]


def _make_probe_fn(cache_size: int = 4096, *, full_decode: bool = False) -> ImageProbeFn:
    @lru_cache(maxsize=cache_size)
    def probe_image(path: Path) -> ImageInfo:
        info = probe(path)  # lazy: reads the header, not the pixels
        if full_decode and info.error is None:
            try:
                decode(path)
            except DECODE_ERRORS as e:
                return ImageInfo(error=f"cannot be decoded ({e}): truncated or corrupt")
        return info

    return probe_image


def image_problems(record: Record, base_dir: Path, probe_image: ImageProbeFn | None = None,
                   warnings: list[str] | None = None) -> list[str]:
    """Problems with the record's images: each must exist, be readable and be ``width`` x ``height``.
    EXIF orientations other than 1 on otherwise matching images are appended to ``warnings``."""
    probe_image = probe_image or _make_probe_fn(16)
    reasons = []
    for rel in record.images:
        info = probe_image(base_dir / rel)
        fault = record_image_fault(rel, base_dir / rel, info, record.width, record.height)
        if fault:
            reasons.append(fault)
        elif warnings is not None and (note := orientation_warning(rel, info)):
            warnings.append(note)
    return reasons


def check_line(raw: bytes, source: RecordSource, *, check_images: bool = True,
               probe_image: ImageProbeFn | None = None,
               warnings: list[str] | None = None) -> tuple[Record | None, list[str]]:
    """Parse and check one JSONL line: ``(record, [])`` when valid, ``(None|record, reasons)``."""
    try:
        data = loads_json_line(raw)
    except JsonLineError as e:
        return None, [str(e)]
    reasons = check_record(data)
    if reasons:
        return None, reasons
    record = build_record(data, source)
    if check_images:
        reasons = image_problems(record, Path(source.path).parent, probe_image, warnings)
    return record, reasons


def _open_data_file(path: Path):
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise DataFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataFileError(f"{path}: is a directory, expected a .jsonl file") from None
    except OSError as e:
        raise DataFileError(f"{path}: cannot read ({e.strerror or e})") from None


def iter_checked_lines(path: str | Path, *, check_images: bool = True, full_decode: bool = False,
                       on_progress: Callable[[int], None] | None = None, warnings: list[Problem] | None = None):
    """Yield ``(line_number, record_or_None, reasons)`` for every non-blank line.

    ``on_progress(n_bytes)`` is called with the bytes consumed since the last call; ``full_decode``
    decodes every image (truncated files); EXIF notes go to ``warnings``.
    Raises :class:`DataFileError` if the file cannot be opened.
    """
    path = Path(path)
    probe_image = _make_probe_fn(full_decode=full_decode)
    with _open_data_file(path) as f:
        for lineno, raw in enumerate(f, start=1):
            if on_progress is not None:
                on_progress(len(raw))
            line = raw.rstrip(b"\r\n")  # the same bytes JsonlIndex.read_bytes gives
            if is_blank_line(line):
                continue
            notes: list[str] = []
            record, reasons = check_line(line, RecordSource(str(path), lineno),
                                         check_images=check_images, probe_image=probe_image, warnings=notes)
            if warnings is not None:
                warnings += [Problem(str(path), lineno, n) for n in notes]
            yield lineno, record, reasons


def validate_jsonl(path: str | Path, *, check_images: bool = True, full_decode: bool = False,
                   on_progress: Callable[[int], None] | None = None) -> FileReport:
    """Validate every record of a JSONL file; raises :class:`DataFileError` if unreadable."""
    report = FileReport(str(path))
    for lineno, record, reasons in iter_checked_lines(path, check_images=check_images, full_decode=full_decode,
                                                      on_progress=on_progress, warnings=report.warnings):
        report.records += 1
        if reasons:
            report.bad_records += 1
            report.problems += [Problem(str(path), lineno, r) for r in reasons]
        elif record is not None:
            report.geometry_counts.update(o.kind for o in record.objects)
    return report


def load_records(path: str | Path, *, check_images: bool = False) -> list[Record]:
    """Load every record of a (small) JSONL file, or raise :class:`RecordError` listing all problems."""
    records, problems = [], []
    for lineno, record, reasons in iter_checked_lines(path, check_images=check_images):
        if reasons:
            problems += [Problem(str(path), lineno, r) for r in reasons]
        else:
            records.append(record)
    if problems:
        raise RecordError(problems)
    return records
