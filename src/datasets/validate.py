"""JSONL validation against the record contract, with the filesystem checks.

:func:`validate_jsonl` reads a file line by line and returns a :class:`FileReport` holding
every problem as ``file:line: reason`` (structure, coordinates, image existence, image size
read from the file header only). :func:`load_records` is the eager loader for small files:
it returns every record or raises :class:`RecordError` listing every problem. For large
files use :class:`src.datasets.jsonl_index.JsonlIndex`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from PIL import Image, UnidentifiedImageError

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
    geometry_counts: Counter = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.problems


ImageSizeFn = Callable[[Path], "tuple[int, int] | str"]


def _make_image_size_fn(cache_size: int = 4096) -> ImageSizeFn:
    @lru_cache(maxsize=cache_size)
    def image_size(path: Path) -> tuple[int, int] | str:
        try:
            with Image.open(path) as im:  # lazy: reads the header, not the pixels
                return im.size
        except FileNotFoundError:
            return "not found"
        except IsADirectoryError:
            return "is a directory"
        except UnidentifiedImageError:
            return "not a readable image file"
        except OSError as e:
            return f"unreadable ({e.strerror or e})"

    return image_size


def image_problems(record: Record, base_dir: Path, image_size: ImageSizeFn | None = None) -> list[str]:
    """Problems with the record's images: each must exist and be ``width`` x ``height``."""
    image_size = image_size or _make_image_size_fn(16)
    reasons = []
    for rel in record.images:
        got = image_size(base_dir / rel)
        if got == "not found":
            reasons.append(f"image {rel}: not found (resolved to {base_dir / rel})")
        elif isinstance(got, str):
            reasons.append(f"image {rel}: {got}")
        elif got != (record.width, record.height):
            reasons.append(f"image {rel} is {got[0]}x{got[1]} but the record says "
                           f"width={record.width}, height={record.height}")
    return reasons


def check_line(raw: bytes, source: RecordSource, *, check_images: bool = True,
               image_size: ImageSizeFn | None = None) -> tuple[Record | None, list[str]]:
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
        reasons = image_problems(record, Path(source.path).parent, image_size)
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


def iter_checked_lines(path: str | Path, *, check_images: bool = True,
                       on_progress: Callable[[int], None] | None = None):
    """Yield ``(line_number, record_or_None, reasons)`` for every non-blank line.

    ``on_progress(n_bytes)`` is called with the bytes consumed since the last call.
    Raises :class:`DataFileError` if the file cannot be opened.
    """
    path = Path(path)
    image_size = _make_image_size_fn()
    with _open_data_file(path) as f:
        for lineno, raw in enumerate(f, start=1):
            if on_progress is not None:
                on_progress(len(raw))
            line = raw.rstrip(b"\r\n")  # the same bytes JsonlIndex.read_bytes gives
            if is_blank_line(line):
                continue
            record, reasons = check_line(line, RecordSource(str(path), lineno),
                                         check_images=check_images, image_size=image_size)
            yield lineno, record, reasons


def validate_jsonl(path: str | Path, *, check_images: bool = True,
                   on_progress: Callable[[int], None] | None = None) -> FileReport:
    """Validate every record of a JSONL file; raises :class:`DataFileError` if unreadable."""
    report = FileReport(str(path))
    for lineno, record, reasons in iter_checked_lines(path, check_images=check_images,
                                                      on_progress=on_progress):
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
