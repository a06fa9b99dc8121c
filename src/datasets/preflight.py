"""The records pre-flight: every record and image of a run checked before the model loads.

:func:`records_preflight` (called by ``python -m src.sft`` and ``scripts/train.sh --dry-run``) checks

- that every fusion entry's ``train_jsonl`` / ``val_jsonl`` exists (a ``ConfigError`` at the fusion
  file:line that names it);
- every record the run reads (every entry, train and val, within ``custom.train_sample_limit`` /
  ``val_sample_limit``) against the record contract, the validator's rules (docs/CONTRACTS.md);
- with ``custom.preflight.image_scan`` (default on), every image those records name: the header
  only (size, format, EXIF orientation; no pixels decoded), in a thread pool. A missing, unreadable
  or wrongly sized image is an error naming the record's ``file:line`` and the fix.

Any problem raises :class:`PreflightError` (a ``RecordError``: exit 2) listing the first
``MAX_SHOWN``. A clean result is cached (src/datasets/preflight_cache.py) under a fingerprint of the
JSONL files and the settings, so an unchanged data set is not scanned again; the fingerprint does
not cover the image files themselves, which the loader checks again when it reads them (builder.py).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from src.config import ConfigError, TrainingConfig, display_path
from src.config.fusion import FusionConfig, jsonl_path_problems

from . import preflight_cache
from .fusion_members import chat_problems
from .image_check import ImageInfo, orientation_warning, probe, record_image_fault
from .records import JsonLineError, Problem, RecordError, is_blank_line, loads_json_line
from .validate import iter_checked_lines

logger = logging.getLogger(__name__)
CACHE_KIND = "records"
MAX_SHOWN = 20
MAX_WARNINGS_SHOWN = 5
PROGRESS_FROM = 20_000  # images: below this the scan takes a couple of seconds


@dataclass(frozen=True)
class DataFile:
    """One JSONL a run reads: the entry, the split, and how many of its records the run uses."""

    entry: str
    split: str  # train | val
    path: Path
    chat: bool
    limit: int | None


@dataclass
class PreflightResult:
    records: int = 0
    images: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cached: bool = False
    seconds: float = 0.0


class PreflightError(RecordError):
    """Records or images of the run break the contract; ``str()`` is the whole report (exit 2)."""

    def __init__(self, result: PreflightResult) -> None:
        super().__init__(sorted(result.problems, key=lambda p: (p.path, p.line)))
        shown = "\n".join(f"  {p}" for p in self.problems[:MAX_SHOWN])
        more = len(result.problems) - MAX_SHOWN
        self.message = (
            f"the records pre-flight found {len(result.problems)} problem(s) in the {result.records} records of this "
            f"run, before the model loaded:\n{shown}"
            + (f"\n  ... and {more} more (scripts/validate_jsonl.py FILE lists every one)" if more > 0 else "")
            + "\nFix the records or images named above (docs/data_contract.md)."
        )

    def __str__(self) -> str:
        return self.message


def run_files(fusion: FusionConfig, train_limit: int | None, val_limit: int | None) -> list[DataFile]:
    out = []
    for entry in fusion.entries:
        out.append(DataFile(entry.name, "train", entry.train_path, entry.is_chat, train_limit))
        if entry.val_path is not None:
            out.append(DataFile(entry.name, "val", entry.val_path, entry.is_chat, val_limit))
    return out


def _chat_lines(data: DataFile) -> Iterator[tuple[int, list[str]]]:
    with data.path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            line = raw.rstrip(b"\r\n")
            if is_blank_line(line):
                continue
            try:
                yield lineno, chat_problems(loads_json_line(line))
            except JsonLineError as e:
                yield lineno, [str(e)]


# (index into the run's files, line, width, height, path as written): compact, a million records fit in memory
ImageRef = tuple[int, int, int, int, str]


def check_records(files: list[DataFile], result: PreflightResult) -> dict[str, list[ImageRef]]:
    """The contract of every record the run reads; returns the images they name (resolved path -> refs)."""
    images: dict[str, list[ImageRef]] = defaultdict(list)
    for index, data in enumerate(files):
        # (line, reasons) for a bad record, (line, record) for a good one
        lines = (_chat_lines(data) if data.chat else
                 ((n, reasons or record) for n, record, reasons in iter_checked_lines(data.path, check_images=False)))
        count = 0
        for lineno, outcome in lines:
            if data.limit is not None and count >= data.limit:
                break
            count += 1
            if isinstance(outcome, list):
                if outcome:
                    result.problems += [Problem(str(data.path), lineno, reason) for reason in outcome]
                continue
            base = str(data.path.parent)
            for rel in outcome.images:
                images[os.path.join(base, rel)].append((index, lineno, outcome.width, outcome.height, rel))
        result.records += count
    return images


def scan_images(files: list[DataFile], images: dict[str, list[ImageRef]], result: PreflightResult,
                workers: int | None = None) -> None:
    """Header of every image (a thread pool: the work is file I/O), compared with every record naming it."""
    paths = list(images)
    workers = workers or min(32, 4 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        infos: list[ImageInfo] = list(_progress(pool.map(probe, paths), len(paths)))
    result.images = len(paths)
    for path, info in zip(paths, infos, strict=True):
        for index, line, width, height, rel in images[path]:
            fault = record_image_fault(rel, Path(path), info, width, height)
            if fault:
                result.problems.append(Problem(str(files[index].path), line, fault))
            elif note := orientation_warning(rel, info):
                result.warnings.append(f"{files[index].path}:{line}: {note}")


def _progress(items: Iterator[ImageInfo], total: int) -> Iterator[ImageInfo]:
    """A progress bar on a terminal for large scans (rich, on stderr); the items as they are otherwise."""
    if total < PROGRESS_FROM or not sys.stderr.isatty():
        return items
    from rich.progress import track

    return track(items, total=total, description="records pre-flight: image headers", transient=True)


def _settings(cfg: TrainingConfig, files: list[DataFile]) -> dict[str, Any]:
    return {"image_scan": cfg.custom.preflight.image_scan,
            "files": [[f.entry, f.split, f.chat, f.limit] for f in files]}


def records_preflight(cfg: TrainingConfig) -> PreflightResult | None:
    """Check the run's JSONL files, records and images (module doc); raise ConfigError / PreflightError."""
    fusion = cfg.fusion
    if fusion is None:
        return None
    missing = jsonl_path_problems(fusion)
    if missing:
        raise ConfigError(missing, subject=display_path(fusion.path))
    files = run_files(fusion, cfg.custom.train_sample_limit, cfg.custom.val_sample_limit)
    key = preflight_cache.fingerprint(CACHE_KIND, [f.path for f in files], _settings(cfg, files))
    start = time.perf_counter()
    cached = preflight_cache.load(CACHE_KIND, key)
    if isinstance(cached, dict) and {"records", "images", "warnings"} <= set(cached):
        result = PreflightResult(cached["records"], cached["images"], warnings=list(cached["warnings"]), cached=True)
    else:
        result = PreflightResult()
        images = check_records(files, result)
        if cfg.custom.preflight.image_scan:
            scan_images(files, images, result)
        if result.problems:
            raise PreflightError(result)
        preflight_cache.store(CACHE_KIND, key, {"records": result.records, "images": result.images,
                                                "warnings": result.warnings})
    result.seconds = time.perf_counter() - start
    _log(result, cfg.custom.preflight.image_scan)
    return result


def _log(result: PreflightResult, image_scan: bool) -> None:
    for note in result.warnings[:MAX_WARNINGS_SHOWN]:
        logger.warning("%s", note)
    if len(result.warnings) > MAX_WARNINGS_SHOWN:
        logger.warning("... and %d more images with an EXIF orientation (scripts/validate_jsonl.py lists them)",
                       len(result.warnings) - MAX_WARNINGS_SHOWN)
    scan = f"{result.images} images' headers" if image_scan else "image scan off (custom.preflight.image_scan)"
    logger.info("records pre-flight: %d records, %s checked in %.3fs%s", result.records, scan, result.seconds,
                " (cached)" if result.cached else "")
