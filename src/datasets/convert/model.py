"""What every format reader yields, and the errors a conversion reports.

A reader turns its files into :class:`SourceImage` items (one per image: where the annotation is,
the image path, the size the annotation file states, the objects already in the record contract's
continuous pixel frame) and :class:`Issue` items (a bad annotation, located). The shared writer
(:mod:`.writer`) checks, maps categories, writes. Nothing here reads files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


class ConvertError(Exception):
    """The input cannot be converted at all (unreadable or malformed file, bad option); exit 2."""


@dataclass(frozen=True, slots=True)
class Issue:
    """One bad item: ``where`` is ``file:line`` or ``file: image 12 annotation 7`` (the report lists it as
    ``where: reason``, :func:`.report.issue_line`)."""

    where: str
    reason: str


@dataclass(frozen=True, slots=True)
class SourceObject:
    """One annotation in the contract's pixel frame (before any range check)."""

    category: str  # the source's category name (before --desc-map)
    kind: str  # bbox_2d | poly | line
    coords: tuple[float, ...]
    where: str
    category_id: int | None = None  # the source's id (COCO/LVIS/YOLO/ODVG), kept for to-coco


@dataclass(slots=True)
class SourceImage:
    """One image and its annotations as a format states them."""

    image: Path | None  # absolute or cwd-relative path of the image file (None: unknown, an issue says why)
    where: str  # where the image is described (file, file:line, file: image id)
    stated_size: tuple[int, int] | None  # (width, height) the annotation file states, if any
    objects: list[SourceObject] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)  # bad annotations of this image
    skipped: dict[str, int] = field(default_factory=dict)  # annotations left out by policy, by reason
    notes: dict[str, int] = field(default_factory=dict)  # annotations written in another form, by how
    image_id: int | None = None  # the source's image id (COCO/LVIS), kept for to-coco

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n

    def note(self, how: str) -> None:
        self.notes[how] = self.notes.get(how, 0) + 1


@dataclass
class Source:
    """A reader's output: the images (lazily), how many, the category table, file-level issues."""

    images: Iterable[SourceImage]
    total: int
    categories: list[tuple[int, str]] | None = None  # (source id, name), for formats that have ids
    issues: list[Issue] = field(default_factory=list)  # bad items that belong to no image
    skipped: dict[str, int] = field(default_factory=dict)  # rows left out by policy (filled while iterating)
