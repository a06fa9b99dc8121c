"""Invariant geometry.coords_preserved: transforms never drop or reorder objects, coordinates or points."""

from __future__ import annotations

import random

import pytest
from support.invariants import InvariantViolation, check_coords_preserved, check_point_order

from src.datasets import geometry as G

W, H = 320, 224


def random_objects(seed: int) -> list[dict]:
    rng = random.Random(seed)
    objs = []
    for i in range(rng.randint(1, 8)):
        kind = rng.choice(["bbox_2d", "poly", "line"])
        if kind == "bbox_2d":
            x1, y1 = rng.uniform(0, W - 20), rng.uniform(0, H - 20)
            coords = [x1, y1, x1 + rng.uniform(1, 19), y1 + rng.uniform(1, 19)]
        else:
            n = rng.randint(3 if kind == "poly" else 2, 7)
            coords = [v for _ in range(n) for v in (rng.uniform(1, W - 1), rng.uniform(1, H - 1))]
        objs.append({"desc": f"obj{i}", kind: coords})
    return objs


@pytest.mark.parametrize("seed", range(8))
def test_flips_keep_every_point_in_order(seed: int) -> None:
    objs = random_objects(seed)
    check_point_order("src.datasets.geometry:hflip", objs, G.hflip(objs, W, H), lambda x, y: (W - x, y))
    check_point_order("src.datasets.geometry:vflip", objs, G.vflip(objs, W, H), lambda x, y: (x, H - y))


@pytest.mark.parametrize("seed", range(8))
def test_rotate_and_resize_keep_objects_and_coordinate_counts(seed: int) -> None:
    objs = random_objects(seed)
    rotated, _, _ = G.rotate(objs, W, H, 7.5)
    check_coords_preserved("src.datasets.geometry:rotate", objs, rotated)
    nw, nh = G.scaled_size(W, H, 1.25)
    check_point_order("src.datasets.geometry:resize", objs, G.resize(objs, W, H, nw, nh),
                      lambda x, y: (x * nw / W, y * nh / H))


@pytest.mark.parametrize("seed", range(8))
def test_crop_filters_but_never_reorders(seed: int) -> None:
    objs = random_objects(seed)
    result = G.crop(objs, (10, 10, W - 30, H - 20), min_coverage=0.3)
    check_coords_preserved("src.datasets.geometry:crop", objs, result.objects, keep_order_only=True)


def test_scaled_sizes_stay_multiples_of_32() -> None:
    for factor in (0.5, 0.75, 1.0, 1.1, 1.25, 2.0):
        w, h = G.scaled_size(W, H, factor)
        assert w % 32 == 0 and h % 32 == 0, \
            f"[invariant geometry.no_training_resize] at src.datasets.geometry:scaled_size: {w}x{h} not /32"


# ------------------------------------------------------------------------------------------- meta


def test_meta_reordered_points_fail_naming_the_invariant(monkeypatch) -> None:
    real = G.hflip

    def broken(objects, width, height):  # rotates each polygon's vertex list by one point
        out = real(objects, width, height)
        for o in out:
            for key in ("poly", "line"):
                if key in o:
                    o[key] = o[key][2:] + o[key][:2]
        return out

    monkeypatch.setattr(G, "hflip", broken)
    objs = [{"desc": "p", "poly": [1.0, 1.0, 50.0, 1.0, 25.0, 40.0]}]
    with pytest.raises(AssertionError, match=r"\[invariant geometry\.coords_preserved\] at src\.datasets\."
                                             r"geometry:hflip: object 0 \(poly\) point 0"):
        check_point_order("src.datasets.geometry:hflip", objs, G.hflip(objs, W, H), lambda x, y: (W - x, y))


def test_meta_dropped_coordinate_fails_naming_the_invariant() -> None:
    before = [{"desc": "l", "line": [0, 0, 5, 5, 9, 9]}]
    after = [{"desc": "l", "line": [0, 0, 9, 9]}]
    with pytest.raises(InvariantViolation, match="geometry.coords_preserved.*6 coordinates became 4"):
        check_coords_preserved("somewhere", before, after)
