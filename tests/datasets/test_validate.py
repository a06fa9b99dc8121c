"""JSONL validation with file:line reasons, the eager loader, and the validator CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from src.datasets.records import RecordError
from src.datasets.validate import DataFileError, load_records, validate_jsonl

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI = REPO_ROOT / "scripts" / "validate_jsonl.py"


def _image(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 100, 50)).save(path)


def _rec(image: str = "images/a.png", w: int = 64, h: int = 48, objects=None, **extra) -> dict:
    objects = objects if objects is not None else [{"desc": "box", "bbox_2d": [1, 2, 30, 40]}]
    return {"images": [image], "width": w, "height": h, "objects": objects, **extra}


def _write(path: Path, lines: list) -> Path:
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    path.write_text(text)
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    _image(tmp_path / "images" / "a.png", (64, 48))
    _image(tmp_path / "images" / "b.png", (32, 32))
    (tmp_path / "images" / "junk.png").write_bytes(b"not an image")
    return tmp_path


GOOD_OBJECTS = [
    {"desc": "box", "bbox_2d": [1, 2, 30, 40]},
    {"desc": "tri", "poly": [0, 0, 64, 0, 32, 48]},
    {"desc": "wire", "line": [0, 0, 10, 10, 20, 5]},
]


@pytest.fixture
def mixed_jsonl(data_dir: Path) -> Path:
    lines = [
        _rec(objects=GOOD_OBJECTS),                                          # 1 good
        _rec(image="images/missing.png"),                                    # 2 missing image
        _rec(w=60),                                                          # 3 size mismatch
        _rec(objects=[{"desc": "b", "bbox_2d": [30, 2, 1, 40]}]),            # 4 x2 < x1
        _rec(objects=[{"desc": "p", "poly": [0, 0, 10, 10]}]),               # 5 polygon with 2 points
        "",                                                                  # 6 blank: not a record
        _rec(objects=[{"desc": "l", "line": [0, 0, 65, 10]}]),               # 7 outside the image
        _rec(objects=[{"desc": "b", "bbox_2d": [1, 2, 3, 4], "color": "r"}]),  # 8 unknown object key
        _rec(split="train"),                                                 # 9 unknown record key
        '{"images": ["images/a.png"], "width": 64,',                         # 10 bad JSON
        '{"images": ["images/a.png"], "width": 64, "height": 48, "objects": [], "summary": NaN}',  # 11
        _rec(objects=[{"desc": "", "bbox_2d": [1, 2, 3, 4]}]),               # 12 empty desc
        _rec(image="images/junk.png"),                                       # 13 unreadable image
        _rec(image="images/b.png", w=32, h=32, objects=[{"desc": "x", "line": [0, 0, 32, 32]}]),  # 14 good
    ]
    return _write(data_dir / "train.jsonl", lines)


def test_every_bad_record_is_reported_with_file_line_and_reason(mixed_jsonl: Path, data_dir: Path):
    report = validate_jsonl(mixed_jsonl)
    f = str(mixed_jsonl)
    expected = [
        (f, 2, f"image images/missing.png: not found (resolved to {data_dir / 'images/missing.png'}"),
        (f, 3, "image images/a.png is 64x48 but the record says width=60, height=48"),
        (f, 4, "objects[0]: bbox_2d: x2 (1) < x1 (30)"),
        (f, 5, "objects[0]: poly: needs at least 3 points, got 2"),
        (f, 7, "objects[0]: line: point 1 (65, 10) outside the image (0..64 x 0..48)"),
        (f, 8, "objects[0]: unknown object key 'color' (allowed: bbox_2d, desc, line, poly)"),
        (f, 9, "unknown record key 'split' (allowed: height, images, metadata, objects, summary, width)"),
        (f, 10, "bad JSON: Expecting property name enclosed in double quotes (column 42)"),
        (f, 11, "non-finite number NaN is not valid JSON"),
        (f, 12, "objects[0]: empty desc"),
        (f, 13, "image images/junk.png: not a readable image file"),
    ]
    assert len(report.problems) == len(expected)
    for problem, (path, line, reason) in zip(report.problems, expected, strict=True):  # image faults add their fix
        assert (problem.path, problem.line) == (path, line) and problem.reason.startswith(reason), problem
    assert str(report.problems[0]).startswith(f"{f}:2: image images/missing.png: not found")
    assert report.records == 13  # the blank line is not a record
    assert report.bad_records == 11
    assert not report.ok
    # object counts cover the two valid records only
    assert report.geometry_counts == Counter({"bbox_2d": 1, "poly": 1, "line": 2})


def test_image_checks_can_be_skipped(mixed_jsonl: Path):
    report = validate_jsonl(mixed_jsonl, check_images=False)
    assert {p.line for p in report.problems} == {4, 5, 7, 8, 9, 10, 11, 12}


def test_progress_callback_sees_every_byte(mixed_jsonl: Path):
    seen = []
    validate_jsonl(mixed_jsonl, on_progress=seen.append)
    assert sum(seen) == mixed_jsonl.stat().st_size
    assert len(seen) == 14


def test_crlf_and_missing_final_newline(data_dir: Path):
    path = data_dir / "crlf.jsonl"
    path.write_bytes(json.dumps(_rec()).encode() + b"\r\n\r\n" + json.dumps(_rec(w=60)).encode())
    report = validate_jsonl(path)
    assert report.records == 2
    assert [p.line for p in report.problems] == [3]
    assert report.problems[0].reason.startswith("image images/a.png is 64x48 but the record says width=60, height=48")


def test_load_records_returns_all_records_or_raises_with_every_problem(mixed_jsonl: Path, data_dir: Path):
    good = _write(data_dir / "good.jsonl", [_rec(objects=GOOD_OBJECTS), _rec(image="images/b.png", w=32, h=32, objects=[])])
    records = load_records(good, check_images=True)
    assert [r.images for r in records] == [("images/a.png",), ("images/b.png",)]
    assert [r.source.line for r in records] == [1, 2]
    with pytest.raises(RecordError) as exc:
        load_records(mixed_jsonl)
    assert [p.line for p in exc.value.problems] == [4, 5, 7, 8, 9, 10, 11, 12]
    assert str(exc.value).splitlines()[0] == f"{mixed_jsonl}:4: objects[0]: bbox_2d: x2 (1) < x1 (30)"


def test_unreadable_files_raise_data_file_error(tmp_path: Path):
    with pytest.raises(DataFileError, match="no such file"):
        validate_jsonl(tmp_path / "nope.jsonl")
    with pytest.raises(DataFileError, match="is a directory"):
        validate_jsonl(tmp_path)


# ---------------------------------------------------------------- CLI

def _cli(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CLI), *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120, check=False)


def test_cli_clean_file_exits_0(data_dir: Path):
    good = _write(data_dir / "good.jsonl", [_rec(objects=GOOD_OBJECTS), _rec(image="images/b.png", w=32, h=32, objects=[])])
    res = _cli(str(good))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "OK: 2 records valid" in res.stdout
    assert "good.jsonl" in res.stdout  # the summary table
    assert "Traceback" not in res.stderr


def test_cli_bad_records_exit_1_and_list_file_line_reason(mixed_jsonl: Path, data_dir: Path):
    good = _write(data_dir / "good.jsonl", [_rec()])
    res = _cli(str(mixed_jsonl), str(good))
    assert res.returncode == 1, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    listed = [ln for ln in lines if ln.startswith(f"{mixed_jsonl}:")]
    assert [int(ln.split(":")[1]) for ln in listed] == [2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13]
    assert f"{mixed_jsonl}:4: objects[0]: bbox_2d: x2 (1) < x1 (30)" in lines
    assert "FAILED: 11 of 14 records are bad" in res.stdout
    assert "Traceback" not in res.stderr
    # summary table row: records, bad records, bbox_2d, poly, line
    row = next(ln for ln in lines if ln.startswith("│") and "train.jsonl" in ln)
    cells = [c.strip() for c in row.replace("│", "|").split("|") if c.strip()]
    assert cells[-5:] == ["13", "11", "1", "1", "2"]


def test_cli_unreadable_file_exits_2_without_traceback(data_dir: Path):
    good = _write(data_dir / "good.jsonl", [_rec()])
    res = _cli(str(good), str(data_dir / "missing.jsonl"))
    assert res.returncode == 2
    assert f"error: {data_dir / 'missing.jsonl'}: no such file" in res.stderr
    assert "Traceback" not in res.stderr


def test_cli_usage_error_exits_2():
    res = _cli()
    assert res.returncode == 2
    assert "usage:" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "terminal"])
def test_cli_prints_file_text_literally(data_dir: Path, terminal: bool):
    """`file:100:` must not become the 💯 emoji, nor `[red]` / `:smile:` from a file name or desc
    turn into colour or emoji, piped or on a terminal (FORCE_COLOR makes rich treat it as one)."""
    records = [_rec() for _ in range(99)]
    records.append(_rec(objects=[{"desc": ":smile: [red]hot[/red]", "bbox_2d": [30, 2, 1, 40]}]))
    path = _write(data_dir / "[red]:smile:data.jsonl", records)
    env = {**os.environ, "COLUMNS": "250"}
    env.pop("FORCE_COLOR", None)
    if terminal:
        env["FORCE_COLOR"] = "1"
    res = subprocess.run([sys.executable, str(CLI), str(path)], capture_output=True, text=True, cwd=REPO_ROOT,
                         timeout=120, check=False, env=env)
    assert res.returncode == 1, res.stdout + res.stderr
    text = re.sub(r"\x1b\[[0-9;]*m", "", res.stdout)  # colour codes of the table frame on a terminal
    assert f"{path}:100: objects[0]: bbox_2d: x2 (1) < x1 (30)" in text.splitlines()
    assert "[red]:smile:data.jsonl" in next(ln for ln in text.splitlines() if ln.startswith("│") and "data" in ln)
    assert not any(ch in res.stdout + res.stderr for ch in "💯😄")


def test_decode_finds_what_headers_cannot_and_exif_is_a_warning(tmp_path: Path):
    """A corrupt PNG (header and end marker intact) passes the header check and fails `--decode`; a truncated
    PNG fails both; an EXIF-rotated JPEG whose record gives its stored size is valid, with a warning."""
    from support.faulty_images import DECODE_ONLY, FAULTS, SIZE, write_dataset

    cut, cut_data, _, _ = FAULTS["truncated_png"]
    phone, phone_data, _, _ = FAULTS["exif_displayed_size"]
    write_dataset(tmp_path, [(DECODE_ONLY[0], DECODE_ONLY[1](), SIZE), (cut, cut_data(), SIZE),
                             (phone, phone_data(), SIZE)], val=False)
    path = tmp_path / "train.jsonl"
    headers = validate_jsonl(path)
    assert [(p.line, p.reason.split(":")[1].strip()) for p in headers.problems] == [(2, "truncated")]
    decoded = validate_jsonl(path, full_decode=True)
    assert [p.line for p in decoded.problems] == [1, 2]
    assert "cannot be decoded" in decoded.problems[0].reason
    assert [(w.line, "EXIF orientation 6" in w.reason) for w in decoded.warnings] == [(3, True)]
    res = _cli(str(path), "--decode")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert f"{path}:1: image images/corrupt.png: cannot be decoded" in res.stdout
    assert f"warning: {path}:3: image images/phone.jpg has EXIF orientation 6" in res.stderr
    assert "stored pixels are trained on" in res.stderr
