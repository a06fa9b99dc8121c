"""Image sizes read from the file header only (PIL opens lazily: no pixels are decoded)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import Image, UnidentifiedImageError


@lru_cache(maxsize=65536)
def header_size(path: Path) -> tuple[int, int] | str:
    """``(width, height)`` of the image at ``path``, or why it cannot be read."""
    try:
        with Image.open(path) as im:
            return im.size
    except FileNotFoundError:
        return "not found"
    except IsADirectoryError:
        return "is a directory"
    except UnidentifiedImageError:
        return "not a readable image file"
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
