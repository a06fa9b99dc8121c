"""The synthetic generator's records describe exactly the pixels it drew."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from src.datasets.synthetic import BACKGROUND, COLOURS, SyntheticSpec, generate_dataset


def _records(root, split="train"):
    return [json.loads(line) for line in (root / f"{split}.jsonl").read_text().splitlines()]


def _colour_mask(pixels: np.ndarray, desc: str) -> np.ndarray:
    return np.all(pixels == np.array(COLOURS[desc.split(" ")[0]]), axis=-1)


def test_records_follow_the_contract(synthetic_data_dir):
    for split, n in (("train", 64), ("val", 16)):
        records = _records(synthetic_data_dir, split)
        assert len(records) == n
        for rec in records:
            assert set(rec) <= {"images", "width", "height", "objects", "summary"}
            assert rec["width"] % 32 == 0 and rec["height"] % 32 == 0
            with Image.open(synthetic_data_dir / rec["images"][0]) as im:
                assert im.size == (rec["width"], rec["height"])
            for obj in rec["objects"]:
                geoms = [k for k in ("bbox_2d", "poly", "line") if k in obj]
                assert len(geoms) == 1 and obj["desc"]


def test_every_geometry_matches_the_drawn_pixels(synthetic_data_dir):
    kinds = set()
    for rec in _records(synthetic_data_dir)[:40]:
        pixels = np.asarray(Image.open(synthetic_data_dir / rec["images"][0]).convert("RGB"))
        claimed = np.zeros(pixels.shape[:2], bool)
        for obj in rec["objects"]:
            mask = _colour_mask(pixels, obj["desc"])
            # Redraw the record's geometry alone; the image must show exactly that shape there.
            ref = Image.new("1", (rec["width"], rec["height"]), 0)
            draw = ImageDraw.Draw(ref)
            if "bbox_2d" in obj:
                kinds.add("bbox")
                x1, y1, x2, y2 = obj["bbox_2d"]
                expected = np.zeros_like(mask)
                expected[y1:y2, x1:x2] = True  # half-open box
                assert np.array_equal(mask[y1:y2, x1:x2], expected[y1:y2, x1:x2])
                assert mask[y1:y2, x1:x2].all()
                claimed |= expected
                continue
            # Vertices are pixel centres; PIL draws through the pixel indices.
            pts = [int(v - 0.5) for v in (obj.get("poly") or obj["line"])]
            assert [p + 0.5 for p in pts] == (obj.get("poly") or obj["line"])
            xy = list(zip(pts[::2], pts[1::2]))
            if "poly" in obj:
                kinds.add("poly")
                draw.polygon(xy, fill=1)
            else:
                kinds.add("line")
                draw.line(xy, fill=1, width=3)
            expected = np.asarray(ref, dtype=bool)
            window = np.zeros_like(mask)
            xs, ys = pts[::2], pts[1::2]
            window[max(min(ys) - 3, 0): max(ys) + 4, max(min(xs) - 3, 0): max(xs) + 4] = True
            assert np.array_equal(mask & window, expected)
            claimed |= expected
        # Nothing but the recorded objects was drawn.
        background = np.all(pixels == np.array(BACKGROUND), axis=-1)
        assert np.array_equal(~background, claimed)
    assert kinds == {"bbox", "poly", "line"}


def test_generation_is_deterministic(tmp_path):
    a = generate_dataset(tmp_path / "a", SyntheticSpec(seed=3, n_train=6, n_val=2))
    b = generate_dataset(tmp_path / "b", SyntheticSpec(seed=3, n_train=6, n_val=2))
    assert (a / "train.jsonl").read_bytes() == (b / "train.jsonl").read_bytes()
    for name in sorted(p.name for p in (a / "images").iterdir()):
        assert (a / "images" / name).read_bytes() == (b / "images" / name).read_bytes()


@pytest.mark.parametrize("seed", [0, 1])
def test_objects_never_overlap(tmp_path, seed):
    from src.datasets.synthetic import extent

    root = generate_dataset(tmp_path / "d", SyntheticSpec(seed=seed, n_train=20, n_val=1))
    for rec in _records(root):
        boxes = [extent(o) for o in rec["objects"]]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]


def test_easy_split_is_few_large_separated_shapes_with_tight_boxes(tmp_path):
    from src.datasets.synthetic import EASY_BACKGROUND, EASY_COLOURS, EASY_SHAPES

    spec = SyntheticSpec(seed=5, n_train=40, n_val=4, easy=True)
    root = generate_dataset(tmp_path / "easy", spec)
    again = generate_dataset(tmp_path / "again", spec)
    assert (root / "train.jsonl").read_bytes() == (again / "train.jsonl").read_bytes()
    descs, counts = set(), set()
    for rec in _records(root):
        pixels = np.asarray(Image.open(root / rec["images"][0]).convert("RGB"))
        assert rec["width"] == rec["height"] == 128
        counts.add(len(rec["objects"]))
        drawn = np.zeros(pixels.shape[:2], bool)
        for obj in rec["objects"]:
            assert set(obj) == {"desc", "bbox_2d"}
            colour, shape = obj["desc"].split(" ")
            assert colour in EASY_COLOURS and shape in EASY_SHAPES
            descs.add(obj["desc"])
            x1, y1, x2, y2 = obj["bbox_2d"]
            assert x2 - x1 >= 30 and y2 - y1 >= 30  # large: at least a quarter of the side
            mask = _colour_mask(pixels, obj["desc"])
            ys, xs = np.nonzero(mask[max(y1 - 4, 0):y2 + 4, max(x1 - 4, 0):x2 + 4])
            # The box is the tight extent of the shape's own pixels (half-open).
            assert [xs.min() + max(x1 - 4, 0), ys.min() + max(y1 - 4, 0)] == [x1, y1]
            assert [xs.max() + max(x1 - 4, 0) + 1, ys.max() + max(y1 - 4, 0) + 1] == [x2, y2]
            drawn[y1:y2, x1:x2] |= mask[y1:y2, x1:x2]
        boxes = [o["bbox_2d"] for o in rec["objects"]]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:  # well separated
                assert a[2] + 4 <= b[0] or b[2] + 4 <= a[0] or a[3] + 4 <= b[1] or b[3] + 4 <= a[1]
        background = np.all(pixels == np.array(EASY_BACKGROUND), axis=-1)
        assert np.array_equal(~background, drawn)  # nothing else was drawn
    assert counts == {1, 2}
    assert len(descs) >= 10  # nearly all 12 colour x shape pairs occur in 40 records


def test_easy_flag_keeps_the_dense_fingerprint():
    # Adding the easy split did not invalidate everyone's cached dense data.
    assert SyntheticSpec(seed=0, n_train=64, n_val=16).fingerprint() == "3c091434dc435840"
    assert SyntheticSpec(seed=0, n_train=64, n_val=16, easy=True).fingerprint() != "3c091434dc435840"
    # the object-count range keeps the fingerprint of the min_objects / max_objects fields it replaced
    assert SyntheticSpec(seed=0, n_train=64, n_val=16, objects=(1, 5)).fingerprint() == "3c091434dc435840"
    assert SyntheticSpec(objects=(1, 4)).fingerprint() != SyntheticSpec().fingerprint()


@pytest.mark.parametrize("objects", [(3, 2), (-1, 2)])
def test_object_count_range_is_checked(objects):
    with pytest.raises(ValueError, match="0 <= min <= max"):
        SyntheticSpec(objects=objects)


def test_one_object_variant_draws_exactly_one_shape_deterministically(tmp_path):
    from src.datasets.synthetic import EASY_BACKGROUND

    spec = SyntheticSpec(seed=3, n_train=24, n_val=4, easy=True, one_object=True)
    root = generate_dataset(tmp_path / "one", spec)
    again = generate_dataset(tmp_path / "again", spec)
    other = generate_dataset(tmp_path / "other", SyntheticSpec(seed=4, n_train=24, n_val=4, easy=True, one_object=True))
    for split in ("train", "val"):
        assert (root / f"{split}.jsonl").read_bytes() == (again / f"{split}.jsonl").read_bytes()
    assert (root / "train.jsonl").read_bytes() != (other / "train.jsonl").read_bytes()
    records = _records(root) + _records(root, "val")
    assert len(records) == 28
    for rec in records:
        assert len(rec["objects"]) == 1
        (obj,) = rec["objects"]
        pixels = np.asarray(Image.open(root / rec["images"][0]).convert("RGB"))
        ys, xs = np.nonzero(~np.all(pixels == np.array(EASY_BACKGROUND), axis=-1))
        # the one shape is every drawn pixel, in its desc's colour, and its box is their tight extent
        assert obj["bbox_2d"] == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        assert _colour_mask(pixels, obj["desc"]).sum() == len(xs)
    assert len({o["bbox_2d"][0] for r in records for o in r["objects"]}) > 10  # places vary


def test_one_object_is_an_easy_variant_and_keeps_the_easy_fingerprint(tmp_path, capsys):
    from src.datasets.synthetic import main

    # the easy data everyone has cached (make artifacts) keeps its fingerprint
    assert SyntheticSpec(seed=0, n_train=512, n_val=64, easy=True).fingerprint() == "01192cb61032649b"
    assert SyntheticSpec(seed=0, n_train=512, n_val=64, easy=True, one_object=True).fingerprint() != "01192cb61032649b"
    with pytest.raises(ValueError, match="easy=True"):
        SyntheticSpec(one_object=True)
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path / "x"), "--one-object"])
    assert exc.value.code == 2 and "--one-object is a variant of the easy split: add --easy" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
