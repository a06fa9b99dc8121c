"""The JSONL offset index: exact offsets, lazy single-record reads, file:line errors, pickling."""

from __future__ import annotations

import json
import multiprocessing
import pickle
from pathlib import Path

import numpy as np
import pytest

from src.datasets.jsonl_index import JsonlIndex, scan_line_offsets
from src.datasets.records import RecordError


def _rec(i: int) -> dict:
    return {"images": [f"images/{i:04d}.png"], "width": 100, "height": 80,
            "objects": [{"desc": f"obj {i}", "bbox_2d": [i % 50, 1, i % 50 + 10, 20]}]}


def _expected_offsets(data: bytes) -> tuple[list[int], list[int]]:
    offsets, lines, pos = [], [], 0
    for lineno, line in enumerate(data.split(b"\n"), start=1):
        if line not in (b"", b"\r"):
            offsets.append(pos)
            lines.append(lineno)
        pos += len(line) + 1
    return offsets, lines


@pytest.fixture
def messy(tmp_path: Path) -> tuple[Path, bytes]:
    """Blank lines, a CRLF blank line, a record with a CRLF ending, no final newline."""
    parts = [json.dumps(_rec(0)), "", json.dumps(_rec(1)) + "\r", "\r", "", json.dumps(_rec(2)),
             json.dumps(_rec(3))]
    data = "\n".join(parts).encode()
    path = tmp_path / "messy.jsonl"
    path.write_bytes(data)
    return path, data


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1 << 20])
def test_offsets_and_line_numbers_are_exact_for_any_chunk_size(messy, chunk):
    path, data = messy
    offsets, lines, size = scan_line_offsets(path, chunk_bytes=chunk)
    exp_offsets, exp_lines = _expected_offsets(data)
    assert offsets.dtype == np.int64 and lines.dtype == np.int64
    assert offsets.tolist() == exp_offsets
    assert lines.tolist() == exp_lines == [1, 3, 6, 7]
    assert size == len(data)


def test_index_reads_each_record_lazily(messy):
    path, _ = messy
    index = JsonlIndex(path, chunk_bytes=5)
    assert len(index) == 4
    for i in range(4):
        rec = index[i]
        assert rec.to_dict() == _rec(i)
        assert rec.source.path == str(path)
    assert [index.line_number(i) for i in range(4)] == [1, 3, 6, 7]
    assert index[-1].source.line == 7
    assert index.raw(2) == _rec(2)
    assert [r.images for r in index] == [(f"images/{i:04d}.png",) for i in range(4)]
    with pytest.raises(IndexError, match="record 4 out of range"):
        index[4]
    with pytest.raises(IndexError):
        index[-5]
    with pytest.raises(TypeError):
        index["0"]


def test_plain_file_without_blank_lines_uses_implicit_line_numbers(tmp_path: Path):
    path = tmp_path / "plain.jsonl"
    path.write_text("".join(json.dumps(_rec(i)) + "\n" for i in range(50)))
    index = JsonlIndex(path)
    assert len(index) == 50
    assert index._lines is None
    assert index.line_number(49) == 50
    assert index[37].objects[0].desc == "obj 37"
    assert not index.offsets.flags.writeable


def test_empty_file(tmp_path: Path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert len(JsonlIndex(path)) == 0
    path.write_bytes(b"\n\r\n\n")
    assert len(JsonlIndex(path)) == 0


def test_bad_records_raise_with_file_and_line(tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    bad_geometry = _rec(1)
    bad_geometry["objects"][0]["bbox_2d"] = [30, 1, 10, 20]
    path.write_text("\n".join([json.dumps(_rec(0)), "", '{"images": [', json.dumps(bad_geometry), "   "]) + "\n")
    index = JsonlIndex(path)
    assert len(index) == 4  # a line of spaces is a (bad) record, not a blank line
    with pytest.raises(RecordError) as exc:
        index[1]
    assert str(exc.value) == f"{path}:3: bad JSON: Expecting value (column 13)"
    with pytest.raises(RecordError) as exc:
        index[2]
    assert str(exc.value) == f"{path}:4: objects[0]: bbox_2d: x2 (10) < x1 (30)"
    assert index.raw(2)["objects"][0]["bbox_2d"] == [30, 1, 10, 20]
    with pytest.raises(RecordError, match=":5: bad JSON: Expecting value"):
        index[3]


def test_missing_file(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no such JSONL file"):
        JsonlIndex(tmp_path / "nope.jsonl")


def _read_in_child(blob: bytes, i: int, queue) -> None:
    index = pickle.loads(blob)
    queue.put(index[i].objects[0].desc)


def test_index_pickles_without_its_descriptor_and_works_in_another_process(messy):
    path, _ = messy
    index = JsonlIndex(path)
    index[0]  # opens the descriptor
    assert index._fd is not None
    blob = pickle.dumps(index)
    clone = pickle.loads(blob)
    assert clone._fd is None
    assert clone[3].to_dict() == _rec(3)
    assert np.array_equal(clone.offsets, index.offsets)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_read_in_child, args=(blob, 2, queue))
    proc.start()
    assert queue.get(timeout=60) == "obj 2"
    proc.join(60)
    assert proc.exitcode == 0
    index.close()
    assert index._fd is None


def test_memory_is_one_int64_per_record(tmp_path: Path):
    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps(_rec(i)) + "\n" for i in range(20000)))
    index = JsonlIndex(path)
    assert index.offsets.nbytes == 8 * 20000
    assert index._lines is None
    assert {k for k, v in vars(index).items() if isinstance(v, (list, dict))} == set()
