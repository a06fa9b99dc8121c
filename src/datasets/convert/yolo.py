"""YOLO txt (Darknet / Ultralytics) -> source images.

Layout: every image under ``--images`` (searched recursively) has its label file at the same
relative path under ``--labels`` with the suffix ``.txt`` (default: the images folder with its last
``images`` component replaced by ``labels``, Ultralytics' layout, else the images folder itself).
An image without a label file is a negative (counted). A label file without its image is a
missing image. Class names: ``--names`` is a ``data.yaml`` (``names:`` a list or an id -> name
mapping) or a text file with one name per line (``classes.txt`` / ``obj.names``).

Each line is ``class cx cy w h`` (a box) or ``class x1 y1 x2 y2 ...`` (a segment, >= 3 points):
values normalised by the image size (:func:`.frames.yolo_box`, :func:`.frames.yolo_points`).
YOLO states no image size, so the size comes from the image header only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import yaml

from .frames import yolo_box, yolo_points
from .imagesize import header_size
from .model import ConvertError, Issue, Source, SourceImage, SourceObject

IMAGE_SUFFIXES = frozenset((".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"))


def read_names(path: Path) -> dict[int, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConvertError(f"--names {path}: cannot read ({e.strerror or e})") from None
    if path.suffix in (".yaml", ".yml"):
        try:
            names = (yaml.safe_load(text) or {}).get("names")
        except (yaml.YAMLError, AttributeError) as e:
            raise ConvertError(f"--names {path}: not a YAML mapping with 'names' ({e})") from None
        if isinstance(names, list):
            names = dict(enumerate(names))
        if not isinstance(names, dict) or not all(isinstance(k, int) for k in names):
            raise ConvertError(f"--names {path}: 'names' must be a list or a mapping from class id to name")
    else:
        names = {k: line.strip() for k, line in enumerate(text.splitlines())}
    return {k: str(v).strip() for k, v in names.items() if v is not None and str(v).strip()}


def default_labels_dir(images: Path) -> Path:
    parts = images.parts
    if "images" in parts:
        k = len(parts) - 1 - parts[::-1].index("images")
        candidate = Path(*parts[:k], "labels", *parts[k + 1:])
        if candidate.is_dir():
            return candidate
    return images


def _line(tokens: list[str], names: dict[int, str], size: tuple[int, int], where: str) -> SourceObject | Issue:
    try:
        cls, values = int(tokens[0]), [float(t) for t in tokens[1:]]
    except ValueError:
        return Issue(where, f"expected 'class cx cy w h' (numbers), got {' '.join(tokens)!r}")
    if cls not in names:
        return Issue(where, f"class id {cls} has no name in --names")
    if len(values) == 4:
        return SourceObject(names[cls], "bbox_2d", yolo_box(*values, *size), where, cls)
    if len(values) >= 6 and len(values) % 2 == 0:
        return SourceObject(names[cls], "poly", yolo_points(values, *size), where, cls)
    return Issue(where, f"a line holds 'class cx cy w h' or 'class x1 y1 x2 y2 x3 y3 ...', got {len(tokens)} values")


def _image(image: Path, label: Path, names: dict[int, str]) -> SourceImage:
    src = SourceImage(image, str(label), None)
    if not label.is_file():
        src.where = str(image)
        src.note("negative: no label file")
        return src
    size = header_size(image)
    if isinstance(size, str):
        return src  # the writer reports the unreadable image
    try:
        lines = label.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        src.issues.append(Issue(str(label), f"cannot read ({e})"))
        return src
    for lineno, line in enumerate(lines, 1):
        if line.strip():
            obj = _line(line.split(), names, size, f"{label}:{lineno}")
            (src.issues if isinstance(obj, Issue) else src.objects).append(obj)
    return src


def read_yolo(images: Path, names_file: Path, labels: Path | None = None) -> Source:
    if not images.is_dir():
        raise ConvertError(f"--images {images}: not a folder")
    labels = labels or default_labels_dir(images)
    names = read_names(names_file)
    if not names:
        raise ConvertError(f"--names {names_file}: no class names found")
    files = sorted(p for p in images.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    stems = {p.relative_to(images).with_suffix("") for p in files}
    orphans = sorted(p for p in labels.rglob("*.txt") if p.relative_to(labels).with_suffix("") not in stems
                     and p.name != "classes.txt") if labels != images else []

    def generate() -> Iterator[SourceImage]:
        for image in files:
            label = labels / image.relative_to(images).with_suffix(".txt")
            yield _image(image, label, names)

    issues = [Issue(str(p), f"label file without an image (no {p.stem}.* under {images}): missing image")
              for p in orphans]
    return Source(generate(), len(files), sorted(names.items()), issues)
