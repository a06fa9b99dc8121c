"""Source images -> checked records -> ``OUT.jsonl`` (+ ``OUT.categories.json``), then the validator.

For every image: its size is read from the file header and compared with the size the
annotation file states; every object is mapped through the desc map, checked against the image
(points up to ``tolerance`` px outside are clamped onto the border and counted; beyond that the
box is outside the image) and for zero area. An image with any bad item is not written (each
item is listed with where it is); without ``skip_bad`` nothing is written at all. The JSONL is
written to a temporary file and renamed into place only when the conversion is accepted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from src.datasets.records import check_record
from src.datasets.validate import validate_jsonl

from .descmap import DescMap
from .frames import polygon_area
from .imagesize import header_size
from .model import Issue, Source, SourceImage, SourceObject
from .report import Category, ConversionReport

CATEGORIES_SUFFIX = ".categories.json"


@dataclass(frozen=True)
class WriteOptions:
    out: Path
    desc_map: DescMap
    drop_empty: bool = False
    skip_bad: bool = False
    tolerance: float = 1.0  # px outside the image that are clamped (counted), not errors


def categories_path(jsonl: Path) -> Path:
    """The category table written beside a converted JSONL (``train.jsonl`` -> ``train.categories.json``)."""
    return jsonl.with_name(jsonl.stem + CATEGORIES_SUFFIX)


def _clamp(obj: SourceObject, width: int, height: int, tol: float) -> tuple[tuple[float, ...] | None, int, str]:
    """Coordinates clamped into the image, the number of points moved, or a reason they are outside."""
    out, moved = [], 0
    for k, v in enumerate(obj.coords):
        size = width if k % 2 == 0 else height
        if v < -tol or v > size + tol:
            x, y = obj.coords[k - k % 2], obj.coords[k - k % 2 + 1]
            return None, 0, (f"{obj.kind} point ({x:g}, {y:g}) lies outside the {width}x{height} image "
                             f"(more than {tol:g} px beyond the border)")
        c = min(max(v, 0.0), float(size))
        moved += c != v
        out.append(c)
    return tuple(out), moved, ""


def _zero_area(kind: str, c: tuple[float, ...]) -> str:
    if kind == "bbox_2d" and (c[2] <= c[0] or c[3] <= c[1]):
        return f"zero-area box {list(c)} (width {c[2] - c[0]:g}, height {c[3] - c[1]:g})"
    if kind == "poly" and polygon_area(c) <= 0:
        return "zero-area polygon (all points on one line)"
    if kind == "line" and len(set(zip(c[0::2], c[1::2]))) < 2:
        return "zero-length line (all points equal)"
    return ""


class _Converter:
    def __init__(self, options: WriteOptions, report: ConversionReport, known: dict[str, int]) -> None:
        self.o, self.report, self.known = options, report, known
        self.base = os.path.abspath(options.out.parent)

    def _category(self, desc: str, source: str, source_id: int | None) -> Category:
        cat = self.report.categories.get(desc)
        if cat is None:
            cid = self.known.get(desc, source_id)
            if cid is None or any(c.id == cid for c in self.report.categories.values()):
                cid = max([c.id for c in self.report.categories.values()] + list(self.known.values()) + [0]) + 1
            cat = self.report.categories[desc] = Category(desc, cid)
        if source not in cat.sources:
            cat.sources.append(source)
        return cat

    def _objects(self, src: SourceImage, width: int, height: int) -> tuple[list[dict[str, Any]], list[Issue], int]:
        objects, issues, clamped = [], [], 0
        for obj in src.objects:
            desc = self.o.desc_map(obj.category)
            if desc is None:
                src.skip("dropped by --desc-map")
                continue
            coords, moved, outside = _clamp(obj, width, height, self.o.tolerance)
            reason = outside or _zero_area(obj.kind, coords)
            if reason:
                issues.append(Issue(obj.where, reason))
                continue
            clamped += moved
            objects.append({"desc": desc, obj.kind: list(coords), "_cat": (obj.category, obj.category_id)})
        return objects, issues, clamped

    def record(self, src: SourceImage) -> dict[str, Any] | None:
        """The record of one image, or None (bad items recorded, or dropped as empty)."""
        issues = list(src.issues)
        size = header_size(Path(src.image)) if src.image is not None else "unknown"
        if src.image is None:
            pass  # the reader's issue says why
        elif isinstance(size, str):
            issues.append(Issue(src.where, f"image {src.image}: {size}"))
        elif src.stated_size is not None and tuple(src.stated_size) != size:
            issues.append(Issue(src.where, f"the annotation says the image is {src.stated_size[0]}x{src.stated_size[1]} "
                                           f"but {src.image} is {size[0]}x{size[1]}; the boxes refer to one of the two "
                                           "sizes: fix the annotation or the image"))
        objects, bad, clamped = self._objects(src, *size) if not isinstance(size, str) else ([], [], 0)
        issues += bad
        self.report.skipped.update(src.skipped)
        self.report.notes.update(src.notes)
        if issues:
            self.report.issues += issues
            self.report.bad_images += 1
            return None
        if not objects and self.o.drop_empty:
            self.report.skipped["image without objects (--drop-empty)"] += 1
            return None
        for obj in objects:
            name, cid = obj.pop("_cat")
            self._category(obj["desc"], name, cid).objects += 1
        self.report.clamped += clamped
        self.report.objects.update(next(k for k in obj if k != "desc") for obj in objects)
        self.report.negatives += not objects
        rec: dict[str, Any] = {"images": [os.path.relpath(os.path.abspath(src.image), self.base)],
                               "width": size[0], "height": size[1], "objects": objects}
        if src.image_id is not None:
            rec["metadata"] = {"image_id": src.image_id}
        problems = check_record(rec)
        if problems:  # a converter bug, never written silently
            self.report.issues += [Issue(src.where, f"converted record breaks the contract: {p}") for p in problems]
            self.report.bad_images += 1
            return None
        return rec


def _known_ids(categories: Iterable[tuple[int, str]] | None, desc_map: DescMap) -> dict[str, int]:
    """desc -> the lowest source id among the categories mapped to it."""
    known: dict[str, int] = {}
    for cid, name in categories or ():
        desc = desc_map(name)
        if desc is not None and (desc not in known or cid < known[desc]):
            known[desc] = cid
    return known


def write_records(fmt: str, source: Source, options: WriteOptions,
                  advance: Callable[[], None] = lambda: None) -> ConversionReport:
    """Convert ``source`` into ``options.out``; the report says what happened (see its exit_code)."""
    header_size.cache_clear()  # sizes of this conversion only (files may have changed since an earlier one)
    categories = list(source.categories or ())
    report = ConversionReport(fmt, options.out, issues=list(source.issues))
    conv = _Converter(options, report, _known_ids(categories, options.desc_map))
    out = options.out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    seen_names: set[str] = {name for _, name in categories}
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for src in source.images:
                report.images_seen += 1
                seen_names.update(o.category for o in src.objects)
                rec = conv.record(src)
                if rec is not None:
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                    report.records += 1
                advance()
        report.skipped.update(source.skipped)
        report.unused_desc_map = options.desc_map.unused(seen_names)
        if report.issues and not options.skip_bad:
            return report
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    report.written = True
    table = [{"id": c.id, "name": c.desc, "sources": c.sources} for c in sorted(report.categories.values(),
                                                                                  key=lambda c: c.id)]
    categories_path(out).write_text(json.dumps({"categories": table}, ensure_ascii=False, indent=1) + "\n",
                                    encoding="utf-8")
    checked = validate_jsonl(out)
    report.validator_problems = [str(p) for p in checked.problems]
    return report
