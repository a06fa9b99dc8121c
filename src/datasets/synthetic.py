"""Offline, deterministic synthetic dense-detection dataset.

Each image is a flat background with drawn rectangles, triangles/quads (polygons) and lines whose
exact geometry is written to the JSONL record (data contract in docs/data_contract.md). Image
sides are multiples of 32. Geometry is in the continuous pixel frame of src/datasets/geometry.py
(the image spans [0, W] x [0, H], pixel (i, j) covers [i, i+1) x [j, j+1)):
- a rectangle `bbox_2d` [x1, y1, x2, y2] (integers) fills exactly the pixels x1 <= i < x2,
  y1 <= j < y2;
- polygons and lines are drawn by PIL through integer pixel indices (i, j); the record holds the
  centres of those pixels, (i + 0.5, j + 0.5), so flips, rotations and crops of the record land
  where the same PIL op moves the drawn pixels.

The `easy` split (`--easy`) is what a learning check needs: a 128 x 128 dark image with one or two
large, well-separated filled shapes (rectangle, triangle or ellipse) in one of four colours, each
annotated by the tight `bbox_2d` of its drawn pixels. Twelve descs, no overlaps, short answers: a
tiny model trained on a CPU can be seen to read colour, shape and place from the pixels.
`--one-object` (with `--easy`) draws exactly one shape per image, so every answer is one desc and
one box: the split the learning benchmark measures localisation on (docs/learning.md).

CLI: `python -m src.datasets.synthetic --out artifacts/data/synthetic_dense --train 64 --val 16`
     `python -m src.datasets.synthetic --out artifacts/data/synthetic_easy --easy --train 512 --val 64`
     `python -m src.datasets.synthetic --out artifacts/data/synthetic_easy_one --easy --one-object --train 4096 --val 64`
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 2
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 200, 30),
    "purple": (150, 60, 190),
    "orange": (240, 130, 20),
}
BACKGROUND = (245, 245, 240)
SIDES = (128, 160, 192, 224, 256)  # multiples of 32
EASY_SIDE = 128
EASY_BACKGROUND = (0, 0, 0)
EASY_COLOURS = ("red", "green", "blue", "yellow")
EASY_SHAPES = ("rectangle", "triangle", "ellipse")
EASY_SIZE = (40, 72)  # side of an easy object's extent in pixels, inclusive range


@dataclass(frozen=True)
class SyntheticSpec:
    seed: int = 0
    n_train: int = 64
    n_val: int = 16
    objects: tuple[int, int] = (1, 5)  # shapes drawn per dense image, inclusive (min, max); fewer when no room is left
    with_summary: bool = True
    easy: bool = False  # the easy learning-check split (module docstring); ignores `objects`
    one_object: bool = False  # easy split only: exactly one shape per image

    def __post_init__(self) -> None:
        low, high = self.objects
        if not 0 <= low <= high:
            raise ValueError(f"objects is an inclusive (min, max) count with 0 <= min <= max, got {self.objects}")
        if self.one_object and not self.easy:
            raise ValueError("one_object is a variant of the easy split: set easy=True as well (CLI: --easy --one-object)")

    def fingerprint(self) -> str:
        fields = asdict(self)
        fields["min_objects"], fields["max_objects"] = fields.pop("objects")  # the names it was first computed with
        if not self.easy:
            del fields["easy"]  # the dense split keeps the fingerprint it had before the easy split existed
        if not self.one_object:
            del fields["one_object"]  # ... and the easy split the one it had before the one-object variant
        payload = json.dumps({"generator": GENERATOR_VERSION, **fields}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _rect(rng: np.random.Generator, w: int, h: int) -> list[int]:
    bw, bh = int(rng.integers(12, w // 2)), int(rng.integers(12, h // 2))
    x1, y1 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
    return [x1, y1, x1 + bw, y1 + bh]


def _poly(rng: np.random.Generator, w: int, h: int) -> list[int]:
    n = int(rng.integers(3, 5))
    cx, cy = int(rng.integers(24, w - 24)), int(rng.integers(24, h - 24))
    radius = int(rng.integers(10, min(cx, cy, w - cx, h - cy, 48) + 1))
    angles = np.sort(rng.uniform(0, 2 * np.pi, size=n))
    pts: list[int] = []
    for a in angles:
        pts += [round(cx + radius * float(np.cos(a))), round(cy + radius * float(np.sin(a)))]
    return pts


def _line(rng: np.random.Generator, w: int, h: int) -> list[int]:
    n = int(rng.integers(2, 4))
    pts: list[int] = []
    for _ in range(n):
        pts += [int(rng.integers(0, w)), int(rng.integers(0, h))]
    return pts


def extent(obj: dict) -> tuple[float, float, float, float]:
    """Axis-aligned extent (x1, y1, x2, y2) of any object's geometry."""
    if "bbox_2d" in obj:
        x1, y1, x2, y2 = obj["bbox_2d"]
        return x1, y1, x2, y2
    pts = obj.get("poly") or obj["line"]
    return min(pts[::2]), min(pts[1::2]), max(pts[::2]), max(pts[1::2])


def pixel_centres(indices: list[int]) -> list[float]:
    """Pixel indices (as PIL draws them) -> their centres in the continuous frame."""
    return [i + 0.5 for i in indices]


def _overlaps(a: tuple, b: tuple, margin: int = 3) -> bool:
    return not (a[2] + margin <= b[0] or b[2] + margin <= a[0] or a[3] + margin <= b[1] or b[3] + margin <= a[1])


def _poly_area(pts: list[int]) -> float:
    xs, ys = np.array(pts[::2], float), np.array(pts[1::2], float)
    return 0.5 * abs(float(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))))


def _sample_geometry(rng: np.random.Generator, kind: str, w: int, h: int) -> dict:
    if kind == "rect":
        return {"bbox_2d": _rect(rng, w, h)}
    if kind == "poly":
        return {"poly": _poly(rng, w, h)}
    return {"line": _line(rng, w, h)}


def _record(w: int, h: int, objects: list[dict], spec: SyntheticSpec) -> dict:
    record = {"width": w, "height": h, "objects": objects}
    if spec.with_summary:
        kinds = sorted({o["desc"].split(" ", 1)[1] for o in objects})
        noun = "object" if len(objects) == 1 else "objects"
        record["summary"] = f"{len(objects)} {noun}: " + ", ".join(kinds)
    return record


def make_record(rng: np.random.Generator, spec: SyntheticSpec) -> tuple[Image.Image, dict]:
    """One image and its record (without the `images` path).

    Objects never overlap (their extents keep a 3 px margin), so every drawn pixel of an object
    is visible and the record's geometry can be checked against the image.
    """
    w, h = int(rng.choice(SIDES)), int(rng.choice(SIDES))
    image = Image.new("RGB", (w, h), BACKGROUND)
    draw = ImageDraw.Draw(image)
    objects: list[dict] = []
    low, high = spec.objects
    for _ in range(int(rng.integers(low, high + 1))):
        colour = str(rng.choice(list(COLOURS)))
        kind = str(rng.choice(["rect", "poly", "line"], p=[0.5, 0.3, 0.2]))
        for _attempt in range(30):
            geom = _sample_geometry(rng, kind, w, h)
            if "poly" in geom and _poly_area(geom["poly"]) < 80:
                continue
            if not any(_overlaps(extent(geom), extent(o)) for o in objects):
                break
        else:
            continue  # no free room left: the record holds fewer objects
        if kind == "rect":
            box = geom["bbox_2d"]
            # PIL's rectangle includes the far edge; the record's box is half-open.
            draw.rectangle([box[0], box[1], box[2] - 1, box[3] - 1], fill=COLOURS[colour])
            objects.append({"desc": f"{colour} rectangle", "bbox_2d": box})
        elif kind == "poly":
            pts = geom["poly"]
            draw.polygon(list(zip(pts[::2], pts[1::2])), fill=COLOURS[colour])
            name = "triangle" if len(pts) == 6 else "quadrilateral"
            objects.append({"desc": f"{colour} {name}", "poly": pixel_centres(pts)})
        else:
            pts = geom["line"]
            draw.line(list(zip(pts[::2], pts[1::2])), fill=COLOURS[colour], width=3)
            objects.append({"desc": f"{colour} line", "line": pixel_centres(pts)})
    return image, _record(w, h, objects, spec)


def _easy_shape(draw: ImageDraw.ImageDraw, shape: str, box: list[int], colour: tuple[int, int, int]) -> None:
    x1, y1, x2, y2 = box[0], box[1], box[2] - 1, box[3] - 1  # inclusive pixel indices
    if shape == "rectangle":
        draw.rectangle([x1, y1, x2, y2], fill=colour)
    elif shape == "ellipse":
        draw.ellipse([x1, y1, x2, y2], fill=colour)
    else:  # an isosceles triangle standing on the box's bottom edge
        draw.polygon([((x1 + x2) // 2, y1), (x2, y2), (x1, y2)], fill=colour)


def make_easy_record(rng: np.random.Generator, spec: SyntheticSpec) -> tuple[Image.Image, dict]:
    """One easy image: one or two large shapes (exactly one with ``spec.one_object``) on black, each with
    the tight box of its pixels."""
    side = EASY_SIDE
    image = Image.new("RGB", (side, side), EASY_BACKGROUND)
    draw = ImageDraw.Draw(image)
    objects: list[dict] = []
    boxes: list[tuple] = []
    for _ in range(1 if spec.one_object else int(rng.integers(1, 3))):
        colour, shape = str(rng.choice(EASY_COLOURS)), str(rng.choice(EASY_SHAPES))
        for _attempt in range(30):
            bw, bh = (int(v) for v in rng.integers(EASY_SIZE[0], EASY_SIZE[1] + 1, size=2))
            x1, y1 = int(rng.integers(0, side - bw + 1)), int(rng.integers(0, side - bh + 1))
            box = [x1, y1, x1 + bw, y1 + bh]
            if not any(_overlaps(tuple(box), b, margin=8) for b in boxes):
                break
        else:
            continue  # no room for a second shape: the record holds one
        layer = Image.new("1", (side, side), 0)
        _easy_shape(ImageDraw.Draw(layer), shape, box, 1)
        _easy_shape(draw, shape, box, COLOURS[colour])
        ys, xs = np.nonzero(np.asarray(layer))
        tight = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]  # half-open
        boxes.append(tuple(box))
        objects.append({"desc": f"{colour} {shape}", "bbox_2d": tight})
    return image, _record(side, side, objects, spec)


def _write_split(root: Path, split: str, n: int, rng: np.random.Generator, spec: SyntheticSpec) -> None:
    lines = []
    for i in range(n):
        image, record = (make_easy_record if spec.easy else make_record)(rng, spec)
        rel = f"images/{split}_{i:06d}.png"
        image.save(root / rel, optimize=False)
        lines.append(json.dumps({"images": [rel], **record}, separators=(",", ":")))
    (root / f"{split}.jsonl").write_text("\n".join(lines) + "\n")


def generate_dataset(out: str | os.PathLike, spec: SyntheticSpec | None = None, force: bool = False) -> Path:
    """Write `train.jsonl`, `val.jsonl` and `images/` under `out` (cached by fingerprint)."""
    spec = spec or SyntheticSpec()
    out = Path(out)
    marker = out / "synthetic_spec.json"
    if not force and marker.is_file() and json.loads(marker.read_text()).get("fingerprint") == spec.fingerprint():
        logger.info("synthetic data cached at %s", out)
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (tmp / "images").mkdir()
        rng = np.random.default_rng(spec.seed)
        _write_split(tmp, "train", spec.n_train, rng, spec)
        _write_split(tmp, "val", spec.n_val, rng, spec)
        (tmp / "synthetic_spec.json").write_text(
            json.dumps({"fingerprint": spec.fingerprint(), **asdict(spec)}, indent=2) + "\n"
        )
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("wrote %d train + %d val records to %s", spec.n_train, spec.n_val, out)
    return out


def generator_parser(description: str, n_train: int, n_val: int) -> argparse.ArgumentParser:
    """The options every synthetic generator takes: --out, --train, --val (record counts), --seed."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", required=True)
    parser.add_argument("--train", type=int, default=n_train)
    parser.add_argument("--val", type=int, default=n_val)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def log_progress() -> None:
    """A generator run from the command line logs what it wrote."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> int:
    parser = generator_parser("Generate the synthetic dense-detection dataset.", SyntheticSpec.n_train,
                              SyntheticSpec.n_val)
    parser.add_argument("--easy", action="store_true", help="the easy learning-check split (few large shapes)")
    parser.add_argument("--one-object", action="store_true",
                        help="with --easy: exactly one shape per image (the localisation split)")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    if args.one_object and not args.easy:
        parser.error("--one-object is a variant of the easy split: add --easy")  # exits 2
    log_progress()
    spec = SyntheticSpec(seed=args.seed, n_train=args.train, n_val=args.val, easy=args.easy,
                         one_object=args.one_object)
    generate_dataset(args.out, spec, args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
