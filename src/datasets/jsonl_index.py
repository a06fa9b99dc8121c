"""Lazy, random access to the records of a JSONL file through a byte-offset index.

The index is built by scanning the file in binary chunks for newlines with numpy (no JSON
parsing); it holds one int64 offset per record (8 MB for 1M records). ``index[i]`` reads
and parses that single line. Blank lines (empty or a lone ``\\r``) are not records, the same
rule the validator uses; every other line is a record, and a bad one raises
:class:`~src.datasets.records.RecordError` naming ``file:line`` when accessed.

The index pickles without its file descriptor (safe for DataLoader workers, forked or
spawned); reads use ``os.pread`` so concurrent threads do not share a file position.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from src.datasets.records import (
    JsonLineError,
    Problem,
    Record,
    RecordError,
    RecordSource,
    loads_json_line,
    parse_record,
)

CHUNK_BYTES = 4 << 20


def scan_line_offsets(path: str | Path, chunk_bytes: int = CHUNK_BYTES) -> tuple[np.ndarray, np.ndarray, int]:
    """Return ``(offsets, line_numbers, file_size)`` of the non-blank lines of ``path``.

    ``offsets`` are int64 byte offsets of each record's first byte; ``line_numbers`` are
    their 1-based line numbers (int64).
    """
    newline_chunks = []
    size = 0
    with open(path, "rb") as f:
        while True:
            buf = f.read(chunk_bytes)
            if not buf:
                break
            nl = np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) == 0x0A)
            newline_chunks.append(nl.astype(np.int64, copy=False) + size)
            size += len(buf)
    newlines = np.concatenate(newline_chunks) if newline_chunks else np.zeros(0, np.int64)
    del newline_chunks
    n = len(newlines) + 1  # candidate lines: one after each newline, plus the first
    starts = np.empty(n, dtype=np.int64)
    starts[0] = 0
    np.add(newlines, 1, out=starts[1:])
    lengths = np.empty(n, dtype=np.int64)
    np.subtract(newlines, starts[:-1], out=lengths[:-1])
    lengths[-1] = size - starts[-1]
    del newlines
    keep = lengths > 0
    ones = np.flatnonzero(lengths == 1)
    del lengths
    if len(ones):  # a lone "\r" (CRLF blank line) is blank too; rare, check each
        with open(path, "rb") as f:
            for k in ones.tolist():
                f.seek(int(starts[k]))
                if f.read(1) == b"\r":
                    keep[k] = False
    line_numbers = np.flatnonzero(keep).astype(np.int64) + 1
    return starts[keep], line_numbers, size


class JsonlIndex:
    """Random access to the records of one JSONL file. ``len(index)``, ``index[i]`` -> Record."""

    def __init__(self, path: str | Path, chunk_bytes: int = CHUNK_BYTES):
        self.path = Path(path)
        try:
            st = self.path.stat()
            offsets, lines, size = scan_line_offsets(self.path, chunk_bytes)
        except FileNotFoundError:
            raise FileNotFoundError(f"{self.path}: no such JSONL file") from None
        self.offsets: np.ndarray = offsets
        self.offsets.flags.writeable = False
        # 1-based line numbers; None when there are no blank lines (line == i + 1)
        no_blanks = len(lines) == 0 or int(lines[-1]) == len(lines)
        self._lines: np.ndarray | None = None if no_blanks else lines
        self.size = size
        self.fingerprint = (st.st_size, st.st_mtime_ns)
        self._fd: int | None = None
        self._pid: int | None = None

    def __len__(self) -> int:
        return len(self.offsets)

    def line_number(self, i: int) -> int:
        i = self._check(i)
        return int(self._lines[i]) if self._lines is not None else i + 1

    def _check(self, i: int) -> int:
        n = len(self.offsets)
        if not isinstance(i, (int, np.integer)):
            raise TypeError(f"JsonlIndex indices must be integers, got {type(i).__name__}")
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"record {i} out of range for {self.path} ({n} records)")
        return int(i)

    def _descriptor(self) -> int:
        pid = os.getpid()
        if self._fd is None or self._pid != pid:
            self._fd = os.open(self.path, os.O_RDONLY)
            self._pid = pid
        return self._fd

    def read_bytes(self, i: int) -> bytes:
        """The bytes of record ``i``'s line, without its line ending."""
        i = self._check(i)
        start = int(self.offsets[i])
        end = int(self.offsets[i + 1]) if i + 1 < len(self.offsets) else self.size
        # the span runs to the next record: this line, its ending and any blank lines
        return os.pread(self._descriptor(), end - start, start).rstrip(b"\r\n")

    def source(self, i: int) -> RecordSource:
        return RecordSource(str(self.path), self.line_number(i))

    def raw(self, i: int) -> Any:
        """Record ``i`` parsed as strict JSON but not validated; raises RecordError on bad JSON."""
        data = self.read_bytes(i)
        try:
            return loads_json_line(data)
        except JsonLineError as e:
            src = self.source(i)
            raise RecordError([Problem(src.path, src.line, str(e))]) from None

    def __getitem__(self, i: int) -> Record:
        """Record ``i``, validated against the contract (structure and coordinates)."""
        return parse_record(self.raw(i), self.source(i))

    def __iter__(self) -> Iterator[Record]:
        for i in range(len(self)):
            yield self[i]

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(OSError, TypeError, AttributeError):  # interpreter shutdown
            self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_fd"] = None
        state["_pid"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.offsets.flags.writeable = False

    def __repr__(self) -> str:
        return f"JsonlIndex({str(self.path)!r}, records={len(self)})"
