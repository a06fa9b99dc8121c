"""Image files as real data sets hold them (written by PIL): faulty ones, and the modes that must keep training.

`write_dataset(folder, images)` writes each image and one record per image (the record's width/height as
given), a JSONL and a fusion config naming it; the records' line numbers follow the order given.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = (200, 150)  # the stored size of every image below


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _photo(mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (SIZE[1], SIZE[0], 3), dtype=np.uint8))
    return rgb if mode == "RGB" else rgb.convert(mode)


def truncated_png() -> bytes:
    data = _png(_photo())
    return data[: len(data) // 2]


def corrupt_png() -> bytes:
    """Header and end marker intact, pixel data overwritten: only decoding finds it (not a header scan)."""
    data = bytearray(_png(_photo()))
    for i in range(len(data) // 3, len(data) // 3 + 200):
        data[i] ^= 0x5A
    return bytes(data)


def exif_rotated_jpeg() -> bytes:
    """Stored 200x150; EXIF orientation 6 (displayed rotated 90 degrees clockwise: 150x200)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    _photo().save(buf, format="JPEG", exif=exif.tobytes())
    return buf.getvalue()


def encoded(mode: str, fmt: str) -> bytes:
    if mode == "I;16":
        image = Image.fromarray(np.arange(SIZE[0] * SIZE[1], dtype=np.uint16).reshape(SIZE[1], SIZE[0]) * 2)
    else:
        image = _photo(mode)
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


# name -> (file name, bytes, the size the record gives, a phrase the error must contain)
FAULTS: dict[str, tuple[str, Callable[[], bytes], tuple[int, int], str]] = {
    "truncated_png": ("cut.png", truncated_png, SIZE, "truncated"),
    "empty_file": ("empty.png", lambda: b"", SIZE, "not a readable image"),
    "text_named_png": ("notes.png", lambda: b"these are not pixels\n", SIZE, "not a readable image"),
    "wrong_size": ("small.png", lambda: _png(_photo()), (96, 64), "is 200x150 but the record says width=96"),
    "exif_displayed_size": ("phone.jpg", exif_rotated_jpeg, (150, 200), "EXIF orientation 6"),
}
# found only where pixels are decoded: the loader, `scripts/validate_jsonl.py --decode`
DECODE_ONLY = ("corrupt.png", corrupt_png, SIZE, "cannot be decoded")
# modes that must keep training: name -> (file name, bytes)
MODES: dict[str, tuple[str, Callable[[], bytes]]] = {
    "grayscale_L": ("gray.png", lambda: encoded("L", "PNG")),
    "palette_P": ("palette.png", lambda: encoded("P", "PNG")),
    "rgba": ("alpha.png", lambda: encoded("RGBA", "PNG")),
    "cmyk_jpeg": ("cmyk.jpg", lambda: encoded("CMYK", "JPEG")),
    "sixteen_bit": ("deep.png", lambda: encoded("I;16", "PNG")),
    "webp": ("photo.webp", lambda: encoded("RGB", "WEBP")),
}


def good_png() -> bytes:
    return _png(_photo())


def record(image: str, size: tuple[int, int], **extra) -> dict:
    w, h = size
    return {"images": [image], "width": w, "height": h,
            "objects": [{"desc": "box", "bbox_2d": [2, 3, min(w, 60), min(h, 50)]}], **extra}


def write_dataset(folder: Path, images: list[tuple[str, bytes, tuple[int, int]]], *,
                  extra_lines: list[dict] = (), val: bool = True) -> Path:
    """Images (name, bytes, record size) -> `folder/train.jsonl` (one record each, in order, then
    `extra_lines`), `val.jsonl` (one good record) and `folder/fusion.yaml`; returns the fusion config."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for name, data, size in images:
        (folder / "images" / name).write_bytes(data)
        lines.append(record(f"images/{name}", size))
    lines += list(extra_lines)
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    fusion = ["targets:", "  - name: faulty", f"    train_jsonl: {folder / 'train.jsonl'}"]
    if val:
        (folder / "images" / "ok.png").write_bytes(good_png())
        (folder / "val.jsonl").write_text(json.dumps(record("images/ok.png", SIZE)) + "\n")
        fusion.append(f"    val_jsonl: {folder / 'val.jsonl'}")
    (folder / "fusion.yaml").write_text("\n".join(fusion) + "\n")
    return folder / "fusion.yaml"
