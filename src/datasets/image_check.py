"""One image against its record: the checks the validator, the pre-flight scan and the loader share.

:func:`probe` reads an image's header (size, format, EXIF orientation) and, for PNG and JPEG, whether the
file's end marker is there (a truncated file); no pixels are decoded.
:func:`decode` decodes every pixel as training does (``convert("RGB")``: grayscale, palette, RGBA,
CMYK and 16-bit images all become RGB; a truncated file fails here). :func:`size_fault` says why a
probed image does not match the record's ``width`` x ``height``, with the fix.

EXIF orientation: neither this launcher nor ms-swift applies it. The *stored* pixels are trained on,
and the record's width/height and coordinates must describe the stored pixels. A record that gives
the displayed (rotated) size of a 90-degree orientation is a size mismatch (an error);
:func:`orientation_warning` explains any other orientation other than 1 (docs/data_contract.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

ORIENTATION_TAG = 0x0112
ROTATED = {5, 6, 7, 8}  # orientations displayed with width and height swapped
MEANING = {2: "mirrored", 3: "rotated 180 degrees", 4: "flipped vertically", 5: "mirrored and rotated 90 degrees",
           6: "rotated 90 degrees clockwise", 7: "mirrored and rotated 90 degrees",
           8: "rotated 90 degrees counter-clockwise"}
DECODE_ERRORS = (OSError, SyntaxError, Image.DecompressionBombError)
END_MARKERS = {"PNG": b"IEND", "JPEG": b"\xff\xd9"}
TAIL_BYTES = 4096
EXIF_FIX = ("either rotate the pixels to the displayed photo (PIL.ImageOps.exif_transpose, then save: the "
            "orientation tag is dropped) so that they match the annotation, or keep the image and write the record "
            "(width/height and every coordinate) for the stored pixels")


@dataclass(frozen=True)
class ImageInfo:
    """What the header says, or ``error`` (why the file cannot be read) with the other fields empty."""

    width: int = 0
    height: int = 0
    format: str | None = None
    orientation: int = 1
    error: str | None = None


def _truncated(path: str | Path, fmt: str | None) -> str | None:
    """PNG and JPEG files end with a marker (IEND / EOI); one missing from the file's last ``TAIL_BYTES`` is a
    file cut short (a copy that died). Reads the tail only: the pixels are not decoded."""
    marker = END_MARKERS.get(fmt or "")
    if marker is None:
        return None
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(max(0, size - TAIL_BYTES))
        if marker in f.read():
            return None
    return f"truncated: its {fmt} end marker is missing (the file was cut short, e.g. by a copy that died)"


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation found without decoding: ``getexif()`` of a PNG decodes the whole image to look for
    an eXIf chunk after the pixels, so PNGs are read from the chunks before them (``im.info``) only."""
    try:
        if im.format == "PNG":
            raw = im.info.get("exif")
            if not raw:
                return 1
            exif = Image.Exif()
            exif.load(raw)
        else:
            exif = im.getexif()
        return int(exif.get(ORIENTATION_TAG, 1) or 1)
    except DECODE_ERRORS:
        return 1  # an unreadable EXIF block: the pixels are still what is trained on


def probe(path: str | Path) -> ImageInfo:
    """Size, format and EXIF orientation from the header (lazy ``Image.open``: no pixels decoded), and the
    format's end marker (PNG, JPEG) from the file's tail."""
    try:
        with Image.open(path) as im:
            info = ImageInfo(im.width, im.height, im.format, _orientation(im))
        cut = _truncated(path, info.format)
        return info if cut is None else ImageInfo(error=cut)
    except FileNotFoundError:
        return ImageInfo(error="not found")
    except IsADirectoryError:
        return ImageInfo(error="is a directory")
    except Image.UnidentifiedImageError:
        return ImageInfo(error="not a readable image file (empty, or not an image format PIL reads)")
    except DECODE_ERRORS as e:
        return ImageInfo(error=f"unreadable ({getattr(e, 'strerror', None) or e})")


def decode(path: str | Path) -> Image.Image:
    """The image decoded as training decodes it (every pixel, as RGB); raises one of ``DECODE_ERRORS``."""
    with Image.open(path) as im:
        return im.convert("RGB")


def read_fault(rel: str, path: Path, info: ImageInfo) -> str:
    if info.error == "not found":
        return (f"image {rel}: not found (resolved to {path}, relative to the JSONL's folder); fix the path in the "
                "record or put the image there")
    return (f"image {rel}: {info.error}; replace the file with the image the record describes (copy it again), "
            "or remove the record")


def size_fault(rel: str, info: ImageInfo, width: int, height: int) -> str | None:
    """Why an image of ``info``'s size does not fit a ``width`` x ``height`` record (None when it does)."""
    if (info.width, info.height) == (width, height):
        return None
    if info.orientation in ROTATED and (info.height, info.width) == (width, height):
        return (f"image {rel} is stored {info.width}x{info.height} with EXIF orientation {info.orientation} "
                f"({MEANING[info.orientation]} on display); the record gives the displayed size {width}x{height}, "
                "but the stored pixels are what is trained on, so boxes drawn on the displayed photo would not "
                f"match them. Fix: {EXIF_FIX}")
    return (f"image {rel} is {info.width}x{info.height} but the record says width={width}, height={height}: every "
            "coordinate would be normalised by the wrong size. Fix width/height (rescaling the coordinates if "
            "they were written for the record's size) or replace the image")


def orientation_warning(rel: str, info: ImageInfo) -> str | None:
    """A note for an EXIF orientation other than 1 on an image whose stored size matches its record."""
    if info.error is not None or info.orientation == 1 or info.orientation not in MEANING:
        return None
    return (f"image {rel} has EXIF orientation {info.orientation} ({MEANING[info.orientation]} on display). The "
            "stored pixels are trained on (EXIF is not applied); if its boxes were drawn on the displayed photo "
            f"they will not match. Fix: {EXIF_FIX}")


def record_image_fault(rel: str, path: Path, info: ImageInfo, width: int, height: int) -> str | None:
    """The one problem of an image referenced by a ``width`` x ``height`` record, or None."""
    return read_fault(rel, path, info) if info.error is not None else size_fault(rel, info, width, height)
