"""A rich progress bar for the plan's pass over large record sets (stderr; off for small sets)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

LARGE = 20_000  # records: below this the pass takes about a second, no bar


@contextlib.contextmanager
def progress_bar(total: int, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """Yields ``advance(n)``; draws a bar on stderr when ``enabled`` and the set is large."""
    if not enabled or total < LARGE:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("counting tokens"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(file=sys.stderr), transient=True) as progress:
        task = progress.add_task("plan", total=total)
        yield lambda n: progress.advance(task, n)
