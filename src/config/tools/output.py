"""Writing to the terminal: plain text by default, rich (colour, tables) on a terminal.

`rich` is imported only when a stream is a terminal (or `--color always`), so piped output and
the tests never pay for it. Both forms carry the same information; tables become aligned or
one-per-line text when plain.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal, TextIO

ColorMode = Literal["auto", "always", "never"]

STYLES = {
    "ok": "green",
    "allowed": "green",
    "bad": "bold red",
    "forbidden": "red",
    "warn": "yellow",
    "dim": "dim",
    "head": "bold",
    "key": "cyan",
}


def wants_rich(stream: TextIO, mode: ColorMode) -> bool:
    if mode == "always":
        return True
    if mode == "never" or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Printer:
    """Line-oriented writer over one stream."""

    def __init__(self, stream: TextIO, mode: ColorMode = "auto") -> None:
        self.stream = stream
        self.rich = wants_rich(stream, mode)
        self._console: Any = None
        if self.rich:
            from rich.console import Console

            self._console = Console(
                file=stream, force_terminal=True if mode == "always" else None,
                highlight=False, soft_wrap=True, emoji=False, markup=False,
            )

    def line(self, text: str = "", style: str | None = None) -> None:
        if self.rich:
            self._console.print(text, style=STYLES.get(style or "", style))
        else:
            self.stream.write(text + "\n")

    def parts(self, *parts: tuple[str, str | None]) -> None:
        """One line made of differently styled parts."""
        if not self.rich:
            self.stream.write("".join(text for text, _ in parts) + "\n")
            return
        from rich.text import Text

        line = Text()
        for text, style in parts:
            line.append(text, style=STYLES.get(style or "", style))
        self._console.print(line)

    def block(self, text: str, lexer: str | None = None) -> None:
        """A multi-line payload (JSON/YAML), highlighted on a terminal, never re-wrapped."""
        if not self.rich:
            self.stream.write(text if text.endswith("\n") else text + "\n")
            return
        from rich.text import Text

        rendered = Text(text.rstrip("\n"))
        if lexer == "json":
            from rich.highlighter import JSONHighlighter

            JSONHighlighter().highlight(rendered)
        elif lexer == "yaml":
            rendered.highlight_regex(r"^\s*(- )?[^\s:#][^:#\n]*(?=:( |$))", "cyan")
            rendered.highlight_regex(r"#.*$", "dim")
        self._console.print(rendered)

    def table(
        self, headers: Sequence[str], rows: Sequence[Sequence[str]],
        row_styles: Sequence[str | None] | None = None, title: str | None = None,
        no_wrap: Sequence[int] = (),
    ) -> None:
        """A table on a terminal; plain text gets aligned columns (last column unpadded)."""
        if self.rich:
            from rich.table import Table

            table = Table(title=title, title_justify="left", show_lines=False, header_style="bold")
            for i, header in enumerate(headers):
                table.add_column(header, overflow="ellipsis" if i in no_wrap else "fold", no_wrap=i in no_wrap)
            for i, row in enumerate(rows):
                style = row_styles[i] if row_styles else None
                table.add_row(*row, style=STYLES.get(style or "", style))
            self._console.print(table)
            return
        if title:
            self.line(title)
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
        for row in (headers, *rows):
            cells = [c.ljust(widths[i]) if i < len(row) - 1 else c for i, c in enumerate(row)]
            self.line("  ".join(cells).rstrip())
