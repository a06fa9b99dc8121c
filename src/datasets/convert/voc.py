"""Pascal VOC XML (one file per image) -> source images.

``<bndbox>`` corners are 1-based pixel indices of the first and last covered pixel:
``[xmin - 1, ymin - 1, xmax, ymax]`` in the contract's frame (:func:`.frames.voc_box`). The
image is ``<filename>`` under ``--images`` (default: ``JPEGImages`` beside the annotations folder
when it exists, else the annotations folder). ``<size>`` is the stated size (a 0 means "not
stated" and is counted). ``<difficult>1</difficult>`` objects are skipped and counted (VOC's own
evaluation ignores them), or kept as ordinary objects with ``--keep-difficult``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from .frames import voc_box
from .model import ConvertError, Issue, Source, SourceImage, SourceObject


def _number(node: ET.Element | None, tag: str) -> float | None:
    text = node.findtext(tag) if node is not None else None
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _size(root: ET.Element, src: SourceImage) -> tuple[int, int] | None:
    size = root.find("size")
    w, h = _number(size, "width"), _number(size, "height")
    if not w or not h:
        src.note("size not stated (<size> missing or 0): header size used")
        return None
    return int(w), int(h)


def _object(k: int, node: ET.Element, path: Path, src: SourceImage, keep_difficult: bool) -> None:
    where = f"{path}: object[{k}]"
    name = (node.findtext("name") or "").strip()
    if not name:
        src.issues.append(Issue(where, "object without a <name> (category)"))
        return
    if (node.findtext("difficult") or "0").strip() not in ("0", "") and not keep_difficult:
        src.skip("difficult (VOC)")
        return
    box = node.find("bndbox")
    corners = [_number(box, t) for t in ("xmin", "ymin", "xmax", "ymax")]
    if any(c is None for c in corners):
        src.issues.append(Issue(where, "<bndbox> needs numeric xmin, ymin, xmax, ymax"))
        return
    src.objects.append(SourceObject(name, "bbox_2d", voc_box(*corners), where))


def _image(path: Path, images: Path, keep_difficult: bool) -> SourceImage:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        src = SourceImage(None, str(path), None)
        src.issues.append(Issue(f"{path}:{e.position[0]}", f"not valid XML ({e})"))
        return src
    filename = (root.findtext("filename") or "").strip()
    src = SourceImage(images / filename if filename else None, str(path), None)
    if not filename:
        src.issues.append(Issue(str(path), "no <filename>: the image is unknown"))
        return src
    src.stated_size = _size(root, src)
    for k, node in enumerate(root.iter("object")):
        _object(k, node, path, src, keep_difficult)
    return src


def read_voc(annotations: Path, images: Path | None = None, *, keep_difficult: bool = False) -> Source:
    if not annotations.is_dir():
        raise ConvertError(f"--annotations {annotations}: not a folder of VOC .xml files")
    if images is None:
        sibling = annotations.parent / "JPEGImages"
        images = sibling if sibling.is_dir() else annotations
    files = sorted(annotations.rglob("*.xml"))

    def generate() -> Iterator[SourceImage]:
        for path in files:
            yield _image(path, images, keep_difficult)

    return Source(generate(), len(files))
