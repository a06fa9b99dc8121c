"""What a conversion did: records written, objects per kind, what was skipped and why, the
category table, every bad item with its location, and the validator's verdict on the output."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .model import Issue

MAX_LISTED = 50  # bad items printed in full; the rest are counted


@dataclass
class Category:
    desc: str
    id: int
    sources: list[str] = field(default_factory=list)  # source names merged into this desc
    objects: int = 0


@dataclass
class ConversionReport:
    fmt: str
    out: Path
    images_seen: int = 0
    records: int = 0
    negatives: int = 0  # records written with objects: []
    objects: Counter = field(default_factory=Counter)  # by geometry kind
    skipped: Counter = field(default_factory=Counter)  # annotations / images left out, by reason
    notes: Counter = field(default_factory=Counter)  # annotations written in another form, by how
    clamped: int = 0  # points within the tolerance outside the image, moved onto its border
    issues: list[Issue] = field(default_factory=list)  # bad items (each skips its image)
    bad_images: int = 0
    categories: dict[str, Category] = field(default_factory=dict)
    unused_desc_map: list[str] = field(default_factory=list)
    written: bool = False
    validator_problems: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 clean; 1 written without the bad images (--skip-bad); 2 nothing written."""
        if not self.written or self.validator_problems:
            return 2
        return 1 if self.issues else 0

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.fmt, "out": str(self.out), "images_seen": self.images_seen, "records": self.records,
                "negatives": self.negatives, "objects": dict(self.objects), "skipped": dict(self.skipped), "notes": dict(self.notes),
                "clamped_points": self.clamped, "bad_images": self.bad_images,
                "issues": [issue_line(i) for i in self.issues], "written": self.written,
                "categories": {c.desc: {"id": c.id, "sources": c.sources, "objects": c.objects}
                               for c in self.categories.values()},
                "validator_problems": self.validator_problems}


def issue_line(issue: Issue) -> str:
    """``file:line: reason``: one bad item as the report lists it (console and JSON)."""
    return f"{issue.where}: {issue.reason}"


def make_console(stderr: bool = False) -> Console:
    return Console(highlight=False, soft_wrap=True, emoji=False, markup=False, stderr=stderr)


def print_report(report: ConversionReport, console: Console | None = None) -> None:
    console = console or make_console()
    err = make_console(stderr=True)
    for issue in report.issues[:MAX_LISTED]:
        err.print(f"bad: {issue_line(issue)}")
    if len(report.issues) > MAX_LISTED:
        err.print(f"... and {len(report.issues) - MAX_LISTED} more bad items")
    summary = Table(title=f"{report.fmt} -> {report.out}")
    summary.add_column("what")
    summary.add_column("count", justify="right")
    rows = [("images read", report.images_seen), ("records written", report.records if report.written else 0),
            ("negatives (objects: [])", report.negatives)]
    rows += [(f"objects: {kind}", n) for kind, n in sorted(report.objects.items())]
    rows += [(f"skipped: {reason}", n) for reason, n in sorted(report.skipped.items())]
    rows += [(f"written as: {how}", n) for how, n in sorted(report.notes.items())]
    rows += [("points clamped onto the border", report.clamped), ("bad items", len(report.issues)),
             ("images with bad items", report.bad_images)]
    for what, n in rows:
        summary.add_row(what, str(n))
    console.print(summary)
    cats = Table(title="categories")
    for col in ("id", "desc", "from", "objects"):
        cats.add_column(col)
    for c in sorted(report.categories.values(), key=lambda c: c.id):
        cats.add_row(str(c.id), c.desc, ", ".join(c.sources), str(c.objects))
    console.print(cats)
    if report.unused_desc_map:
        err.print(f"warning: --desc-map names categories the source does not have: {report.unused_desc_map}")
    for p in report.validator_problems[:MAX_LISTED]:
        err.print(f"validator: {p}")
    if not report.written:
        err.print(f"error: nothing written: {len(report.issues)} bad items in the source (listed above with where they "
                  "are). Fix them, or pass --skip-bad to write every image without a bad item and leave those out.")
