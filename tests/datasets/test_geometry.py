"""Geometry invariants: every op maps each coordinate exactly (checked against PIL-transformed
rendered masks), never drops or reorders points of a kept object; crops drop only objects under the
coverage threshold."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from src.datasets import geometry as G

# ------------------------------------------------------------------------------------------ helpers


def _inside_polygon(pts: list[tuple[float, float]], xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Even-odd rule at the given points (vectorized crossing number)."""
    inside = np.zeros(xs.shape, dtype=bool)
    n = len(pts)
    for i in range(n):
        (x1, y1), (x2, y2) = pts[i], pts[(i + 1) % n]
        if y1 == y2:
            continue
        crosses = (y1 > ys) != (y2 > ys)
        x_at = x1 + (ys - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (xs < x_at)
    return inside


def render(size: tuple[int, int], obj: dict) -> np.ndarray:
    """Boolean mask of ``obj``: pixel (i, j) is set when its centre (i + .5, j + .5) is inside (lines:
    within 1.5 px). Exact, unlike PIL's ImageDraw fill, which is biased by a fraction of a pixel."""
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    key = G.geometry_key(obj)
    pts = G.points_of(obj[key])
    if key == "bbox_2d":
        (x1, y1), (x2, y2) = pts
        return (xs >= x1) & (xs < x2) & (ys >= y1) & (ys < y2)
    if key == "poly":
        return _inside_polygon(pts, xs, ys)
    near = np.zeros(xs.shape, dtype=bool)
    for (x1, y1), (x2, y2) in itertools.pairwise(pts):
        dx, dy = x2 - x1, y2 - y1
        t = np.clip(((xs - x1) * dx + (ys - y1) * dy) / max(dx * dx + dy * dy, 1e-12), 0, 1)
        near |= np.hypot(xs - (x1 + t * dx), ys - (y1 + t * dy)) <= 1.5
    return near


def mask_bbox(mask: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(mask)
    return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


def coords_bbox(obj: dict) -> tuple[float, float, float, float]:
    pts = G.points_of(obj[G.geometry_key(obj)])
    return (min(p[0] for p in pts), min(p[1] for p in pts), max(p[0] for p in pts), max(p[1] for p in pts))


def assert_mask_matches(actual: np.ndarray, expected_obj: dict) -> None:
    """Pixels of the transformed mask match the mask rendered from the transformed coordinates, except
    within 1 px of the expected boundary; and the bounding boxes agree within 1 px."""
    h, w = actual.shape
    expected = render((w, h), expected_obj)
    band = ndimage.binary_dilation(expected, np.ones((3, 3))) & ~ndimage.binary_erosion(
        expected, np.ones((3, 3))
    )
    bad = (actual != expected) & ~band
    assert not bad.any(), f"{int(bad.sum())} pixels differ more than 1 px from the boundary"
    assert np.allclose(mask_bbox(actual), coords_bbox(expected_obj), atol=1.0), (
        mask_bbox(actual),
        coords_bbox(expected_obj),
    )


def markers_image(size: tuple[int, int], pts: list[tuple[float, float]]) -> Image.Image:
    """A 5x5 marker of value 40 * (k + 1) centred on each point (points at half-integer coordinates)."""
    img = Image.new("L", size, 0)
    draw = ImageDraw.Draw(img)
    for k, (x, y) in enumerate(pts):
        cx, cy = math.floor(x), math.floor(y)
        draw.rectangle([cx - 2, cy - 2, cx + 2, cy + 2], fill=40 * (k + 1))
    return img


def marker_centres(img: Image.Image, n: int) -> list[tuple[float, float]]:
    arr = np.asarray(img)
    out = []
    for k in range(n):
        ys, xs = np.nonzero(arr == 40 * (k + 1))
        assert xs.size, f"marker {k} vanished"
        out.append((float(xs.mean()) + 0.5, float(ys.mean()) + 0.5))
    return out


W, H = 160, 112
POLY = {"desc": "p", "poly": [40.5, 30.5, 120.5, 22.5, 132.5, 80.5, 70.5, 95.5, 30.5, 70.5]}
BOX = {"desc": "b", "bbox_2d": [30, 20, 90, 64]}
LINE = {"desc": "l", "line": [20.5, 90.5, 60.5, 40.5, 140.5, 30.5]}
OBJECTS = [BOX, POLY, LINE]

# ------------------------------------------------------------------------------------------ basics


def test_geometry_key_requires_exactly_one_geometry():
    assert G.geometry_key(BOX) == "bbox_2d"
    with pytest.raises(ValueError, match="exactly one"):
        G.geometry_key({"desc": "x"})
    with pytest.raises(ValueError, match="exactly one"):
        G.geometry_key({"desc": "x", "bbox_2d": [0, 0, 1, 1], "line": [0, 0, 1, 1]})
    with pytest.raises(ValueError, match="4 coordinates"):
        G.geometry_key({"desc": "x", "bbox_2d": [0, 0, 1, 1, 2, 2]})
    with pytest.raises(ValueError, match="even"):
        G.geometry_key({"desc": "x", "poly": [0, 0, 1, 1, 2]})


def test_affine_inverse_and_composition():
    a = G.Affine(2.0, 0.5, 3.0, -1.0, 1.5, 4.0)
    x, y = a(7.0, -2.0)
    assert a.inverse()(x, y) == pytest.approx((7.0, -2.0))
    b = G.hflip_affine(10, 10)
    assert a.then(b)(7.0, -2.0) == pytest.approx(b(*a(7.0, -2.0)))
    c = G.Affine(0.5, -1.0, 2.0, 3.0, 0.25, -1.0)  # every coefficient non-zero: no term can hide
    for p in [(7.0, -2.0), (0.0, 0.0), (-3.5, 11.0)]:
        assert a.then(c)(*p) == pytest.approx(c(*a(*p)))
        assert c.then(a)(*p) == pytest.approx(a(*c(*p)))
        assert c.inverse()(*c(*p)) == pytest.approx(p)
        assert c.then(c.inverse())(*p) == pytest.approx(p)


def test_hflip_vflip_exact_values_and_involution():
    out = G.hflip(OBJECTS, W, H)
    assert out[0]["bbox_2d"] == [70.0, 20.0, 130.0, 64.0]
    assert out[1]["poly"] == [
        W - 40.5,
        30.5,
        W - 120.5,
        22.5,
        W - 132.5,
        80.5,
        W - 70.5,
        95.5,
        W - 30.5,
        70.5,
    ]
    assert out[2]["line"] == [W - 20.5, 90.5, W - 60.5, 40.5, W - 140.5, 30.5]
    out = G.vflip(OBJECTS, W, H)
    assert out[0]["bbox_2d"] == [30.0, 48.0, 90.0, 92.0]
    assert out[2]["line"] == [20.5, H - 90.5, 60.5, H - 40.5, 140.5, H - 30.5]
    for flip in (G.hflip, G.vflip):
        twice = flip(flip(OBJECTS, W, H), W, H)
        for a, b in zip(twice, OBJECTS):
            k = G.geometry_key(b)
            assert a[k] == pytest.approx([float(v) for v in b[k]])


def test_inputs_are_not_mutated_and_other_keys_kept():
    obj = {"desc": "d", "poly": [1, 2, 3, 4, 5, 1], "extra": {"k": 1}}
    before = {"desc": "d", "poly": [1, 2, 3, 4, 5, 1], "extra": {"k": 1}}
    out = G.hflip([obj], 10, 10)
    assert obj == before
    assert out[0]["desc"] == "d" and out[0]["extra"] == {"k": 1}


def test_rotate_90_exact_mapping():
    # CCW 90: (x, y) -> (y, W - x) on an H x W canvas.
    out, nw, nh = G.rotate([POLY, BOX], W, H, 90)
    assert (nw, nh) == (H, W)
    pts = G.points_of(POLY["poly"])
    assert out[0]["poly"] == pytest.approx([v for x, y in pts for v in (y, W - x)])
    assert out[1]["bbox_2d"] == pytest.approx([20, W - 90, 64, W - 30])


@pytest.mark.parametrize("size", [(160, 112), (97, 61), (64, 64), (31, 200)])
@pytest.mark.parametrize("deg", [0, 1, 17.3, -33, 45, 90, 135.5, 180, -90, 271])
def test_rotation_reproduces_pil_rotate_expand(size, deg):
    """Same canvas and the same pixels as PIL's own rotate(expand=True)."""
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    rot = G.rotation(size[0], size[1], deg)
    ref = img.rotate(deg, resample=Image.Resampling.BILINEAR, expand=True)
    assert (rot.width, rot.height) == ref.size
    mine = img.transform(
        (rot.width, rot.height), Image.Transform.AFFINE, rot.pil_matrix, resample=Image.Resampling.BILINEAR
    )
    assert rot.affine.pil_coefficients() == pytest.approx(rot.pil_matrix, abs=1e-9)
    assert np.array_equal(np.asarray(mine), np.asarray(ref))


def test_rotated_bbox_is_box_of_rotated_corners():
    out, _, _ = G.rotate([BOX], W, H, 30)
    rot = G.rotation(W, H, 30)
    x1, y1, x2, y2 = BOX["bbox_2d"]
    corners = [rot.affine(x, y) for x, y in ((x1, y1), (x2, y1), (x2, y2), (x1, y2))]
    assert out[0]["bbox_2d"] == pytest.approx(
        [
            min(c[0] for c in corners),
            min(c[1] for c in corners),
            max(c[0] for c in corners),
            max(c[1] for c in corners),
        ]
    )


def test_scaled_size_multiples_of_32():
    assert G.scaled_size(256, 192, 1.0) == (256, 192)
    assert G.scaled_size(256, 192, 0.5) == (128, 96)
    assert G.scaled_size(250, 190, 1.3) == (320, 256)  # 325 -> 320, 247 -> 256
    assert G.scaled_size(20, 20, 0.1) == (32, 32)
    with pytest.raises(ValueError):
        G.scaled_size(10, 10, 0)


def test_resize_uses_exact_per_axis_ratio():
    out = G.resize([BOX, POLY], 160, 112, 224, 96)
    sx, sy = 224 / 160, 96 / 112
    assert out[0]["bbox_2d"] == pytest.approx([30 * sx, 20 * sy, 90 * sx, 64 * sy])
    pts = G.points_of(POLY["poly"])
    assert out[1]["poly"] == pytest.approx([v for x, y in pts for v in (x * sx, y * sy)])


# ------------------------------------------------------------------------------------------ masks

IMAGE_OPS = {
    "hflip": lambda img: img.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "vflip": lambda img: img.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
}


@pytest.mark.parametrize("op", ["hflip", "vflip"])
@pytest.mark.parametrize("obj", [BOX, POLY], ids=["bbox", "poly"])
def test_flip_matches_transformed_mask(op, obj):
    mask = Image.fromarray(render((W, H), obj).astype(np.uint8) * 255)
    moved = np.asarray(IMAGE_OPS[op](mask)) > 127
    new = getattr(G, op)([obj], W, H)[0]
    assert_mask_matches(moved, new)


@pytest.mark.parametrize("deg", [7, -23.5, 45, 90, 180, 211])
def test_rotate_matches_transformed_mask(deg):
    mask = Image.fromarray(render((W, H), POLY).astype(np.uint8) * 255)
    moved_img = mask.rotate(deg, resample=Image.Resampling.BILINEAR, expand=True)
    out, nw, nh = G.rotate([POLY, BOX], W, H, deg)
    assert moved_img.size == (nw, nh)
    assert_mask_matches(np.asarray(moved_img) > 127, out[0])
    # a box: the mask of the rotated box is bounded by (and touches) the box of its rotated corners
    bmask = Image.fromarray(render((W, H), BOX).astype(np.uint8) * 255)
    bmoved = np.asarray(bmask.rotate(deg, resample=Image.Resampling.BILINEAR, expand=True)) > 127
    assert np.allclose(mask_bbox(bmoved), out[1]["bbox_2d"], atol=1.0)


@pytest.mark.parametrize("factor", [0.5, 0.8, 1.37, 2.0])
def test_scale_matches_transformed_mask(factor):
    nw, nh = G.scaled_size(W, H, factor)
    mask = Image.fromarray(render((W, H), POLY).astype(np.uint8) * 255)
    moved = np.asarray(mask.resize((nw, nh), Image.Resampling.BILINEAR)) > 127
    assert_mask_matches(moved, G.resize([POLY], W, H, nw, nh)[0])


def test_crop_matches_transformed_mask_for_inside_and_clipped_box():
    window = (25, 15, 140, 100)
    res = G.crop([POLY, BOX], window, 0.0)
    assert res.coverages[0] == 1.0
    mask = Image.fromarray(render((W, H), POLY).astype(np.uint8) * 255)
    assert_mask_matches(np.asarray(mask.crop(window)) > 127, res.objects[0])
    # box partly outside: clamping gives exactly the visible part
    clipped = G.crop([BOX], (50, 30, 150, 100), 0.0)
    bmask = Image.fromarray(render((W, H), BOX).astype(np.uint8) * 255).crop((50, 30, 150, 100))
    assert clipped.objects[0]["bbox_2d"] == [0.0, 0.0, 40.0, 34.0]
    assert np.allclose(mask_bbox(np.asarray(bmask) > 127), clipped.objects[0]["bbox_2d"], atol=1.0)


# ------------------------------------------------------------------------------------------ points


def _ops():
    nw, nh = G.scaled_size(W, H, 0.7)
    window = (10, 5, 150, 105)
    return {
        "hflip": (lambda img: img.transpose(Image.Transpose.FLIP_LEFT_RIGHT), lambda o: G.hflip(o, W, H)),
        "vflip": (lambda img: img.transpose(Image.Transpose.FLIP_TOP_BOTTOM), lambda o: G.vflip(o, W, H)),
        "rotate": (lambda img: img.rotate(-37, expand=True), lambda o: G.rotate(o, W, H, -37)[0]),
        "scale": (
            lambda img: img.resize((nw, nh), Image.Resampling.NEAREST),
            lambda o: G.resize(o, W, H, nw, nh),
        ),
        "crop": (lambda img: img.crop(window), lambda o: G.crop(o, window, 0.0).objects),
    }


@pytest.mark.parametrize("op", ["hflip", "vflip", "rotate", "scale", "crop"])
@pytest.mark.parametrize("obj", [POLY, LINE], ids=["poly", "line"])
def test_every_point_maps_to_its_own_marker_in_order(op, obj):
    """Each point k carries a distinct marker; after the image op, point k of the transformed object
    sits on marker k (within 1 px): no point is dropped, moved or reordered."""
    image_op, coord_op = _ops()[op]
    key = G.geometry_key(obj)
    pts = G.points_of(obj[key])
    moved = image_op(markers_image((W, H), pts))
    new = coord_op([obj])
    assert len(new) == 1
    new_pts = G.points_of(new[0][key])
    assert len(new_pts) == len(pts)
    for k, (got, want) in enumerate(zip(new_pts, marker_centres(moved, len(pts)))):
        assert math.dist(got, want) <= 1.0, (k, got, want)


def test_random_polygons_keep_point_count_under_all_ops():
    rng = np.random.default_rng(7)
    for _ in range(50):
        n = int(rng.integers(3, 12))
        coords = rng.uniform(0, [W, H] * n).round(2).tolist()
        obj = {"desc": "r", "poly": coords}
        for _, coord_op in _ops().values():
            out = coord_op([obj])
            for o in out:
                assert len(o["poly"]) == len(coords)
        out, nw, nh = G.rotate([obj], W, H, float(rng.uniform(-180, 180)))
        xs, ys = out[0]["poly"][0::2], out[0]["poly"][1::2]
        assert min(xs) >= 0 and max(xs) <= nw and min(ys) >= 0 and max(ys) <= nh


# ------------------------------------------------------------------------------------------ coverage


def test_coverage_exact_values():
    win = (0, 0, 100, 100)
    assert G.coverage({"desc": "", "bbox_2d": [50, 0, 150, 100]}, win) == pytest.approx(0.5)
    assert G.coverage({"desc": "", "bbox_2d": [10, 10, 20, 20]}, win) == 1.0
    assert G.coverage({"desc": "", "bbox_2d": [110, 10, 120, 20]}, win) == 0.0
    # right triangle (0,0) (200,0) (0,200): area 20000; inside the window: the whole square -> 10000
    assert G.coverage({"desc": "", "poly": [0, 0, 200, 0, 0, 200]}, win) == pytest.approx(0.5)
    # concave L shape: 3 unit squares of 50x50, one of them outside the window
    ell = [50, 50, 150, 50, 150, 100, 100, 100, 100, 150, 50, 150]
    assert G.coverage({"desc": "", "poly": ell}, win) == pytest.approx(1 / 3)
    assert G.coverage({"desc": "", "line": [50, 50, 150, 50]}, win) == pytest.approx(0.5)
    assert G.coverage({"desc": "", "line": [-50, 50, 50, 50, 50, 150]}, win) == pytest.approx(0.5)
    # degenerate geometry falls back one dimension
    assert G.coverage({"desc": "", "bbox_2d": [50, 10, 150, 10]}, win) == pytest.approx(0.5)
    assert G.coverage({"desc": "", "poly": [0, 50, 100, 50, 200, 50]}, win) == pytest.approx(0.5)
    assert G.coverage({"desc": "", "line": [5, 5, 5, 5]}, win) == 1.0
    assert G.coverage({"desc": "", "line": [105, 5, 105, 5]}, win) == 0.0


def test_coverage_in_an_offset_window_and_on_its_edges():
    win = (10, 20, 110, 120)
    assert G.coverage({"desc": "", "bbox_2d": [60, 70, 160, 170]}, win) == pytest.approx(0.25)  # both axes cut
    assert G.coverage({"desc": "", "bbox_2d": [20, 100, 30, 140]}, win) == pytest.approx(0.5)  # y only
    assert G.coverage({"desc": "", "bbox_2d": [0, 30, 20, 40]}, win) == pytest.approx(0.5)  # x only, from the left
    # a box of area <= 1 is still measured by area (a quarter of it), not by its diagonal (half of it)
    assert G.coverage({"desc": "", "bbox_2d": [109.5, 119.5, 110.5, 120.5]}, win) == pytest.approx(0.25)
    # a flat polygon's outline is closed: 50->150 (half inside), 150->100 (outside), back 100->50 (inside)
    assert G.coverage({"desc": "", "poly": [60, 60, 160, 60, 110, 60]}, win) == pytest.approx(0.5)
    for x, y in [(10, 50), (110, 50), (50, 20), (50, 120)]:  # a point on each edge counts as inside
        assert G.coverage({"desc": "", "line": [x, y, x, y]}, win) == 1.0
    assert G.coverage({"desc": "", "line": [9.9, 50, 9.9, 50]}, win) == 0.0


def test_polygon_coverage_matches_rasterized_estimate():
    rng = np.random.default_rng(3)
    for _ in range(30):
        n = int(rng.integers(3, 10))
        cx, cy = rng.uniform(30, 130), rng.uniform(20, 90)
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = rng.uniform(15, 45, n)
        poly = {
            "desc": "",
            "poly": [v for a, r in zip(ang, rad) for v in (cx + r * np.cos(a), cy + r * np.sin(a))],
        }
        mask = render((W, H), poly)
        if mask.sum() < 200:
            continue
        window = (int(rng.integers(0, 80)), int(rng.integers(0, 50)), 0, 0)
        window = (
            window[0],
            window[1],
            window[0] + int(rng.integers(30, 80)),
            window[1] + int(rng.integers(30, 60)),
        )
        est = mask[window[1] : window[3], window[0] : window[2]].sum() / mask.sum()
        assert G.coverage(poly, window) == pytest.approx(est, abs=0.06)


def test_crop_drops_only_objects_under_threshold():
    win = (0, 0, 100, 100)
    objs = [
        {"desc": "full", "bbox_2d": [10, 10, 20, 20]},  # 1.0
        {"desc": "sixty", "bbox_2d": [60, 0, 160, 100]},  # 0.4
        {"desc": "half", "bbox_2d": [50, 0, 150, 100]},  # 0.5
        {"desc": "out", "bbox_2d": [110, 0, 120, 10]},  # 0.0
        {"desc": "line", "line": [90, 50, 110, 50]},  # 0.5
    ]
    res = G.crop(objs, win, 0.5)
    assert res.coverages == pytest.approx([1.0, 0.4, 0.5, 0.0, 0.5])
    assert res.kept == [0, 2, 4]
    assert [o["desc"] for o in res.objects] == ["full", "half", "line"]
    assert G.crop(objs, win, 0.0).kept == [0, 1, 2, 4]  # coverage 0 is always dropped
    assert G.crop(objs, win, 1.0).kept == [0]


def test_crop_clamps_point_by_point_and_keeps_order():
    tri = {"desc": "t", "poly": [-10, 10, 50, -20, 60, 40]}
    res = G.crop([tri], (0, 0, 40, 30), 0.0)
    assert res.objects[0]["poly"] == [0.0, 10.0, 40.0, 0.0, 40.0, 30.0]
    shifted = G.crop([{"desc": "l", "line": [15, 25, 35, 45, 55, 65]}], (10, 20, 60, 70), 0.0)
    assert shifted.objects[0]["line"] == [5.0, 5.0, 25.0, 25.0, 45.0, 45.0]
    assert (shifted.width, shifted.height) == (50, 50)


def test_crop_rejects_bad_windows():
    with pytest.raises(ValueError):
        G.crop([BOX], (10, 10, 10, 20), 0.5)
    with pytest.raises(ValueError):
        G.crop([BOX], (0.5, 0, 10, 10), 0.5)
    with pytest.raises(ValueError):
        G.crop([BOX], (0, 0, 10, 10), 1.5)


def test_clip_polygon_and_segment():
    sq = [(-10.0, -10.0), (10.0, -10.0), (10.0, 10.0), (-10.0, 10.0)]
    assert G.polygon_area(G.clip_polygon(sq, (0, 0, 100, 100))) == pytest.approx(100.0)
    assert G.clip_polygon(sq, (20, 20, 30, 30)) == []
    assert G.clip_segment((-10, 5), (10, 5), (0, 0, 100, 100)) == ((0.0, 5.0), (10.0, 5.0))
    assert G.clip_segment((-10, 200), (10, 200), (0, 0, 100, 100)) is None


@pytest.mark.parametrize("reverse", [False, True])
def test_clip_segment_diagonal_through_an_offset_window(reverse):
    # (0, 0) -> (60, 90) enters the window [10, 50] x [20, 60] through its top edge at t = 2/9 and
    # leaves through its bottom edge at t = 2/3
    p, q = (0.0, 0.0), (60.0, 90.0)
    enter, leave = (40.0 / 3.0, 20.0), (40.0, 60.0)
    got = G.clip_segment(q, p, (10, 20, 50, 60)) if reverse else G.clip_segment(p, q, (10, 20, 50, 60))
    assert [*got[0], *got[1]] == pytest.approx([*leave, *enter] if reverse else [*enter, *leave])
    # through the left and right edges instead
    got = G.clip_segment((0.0, 30.0), (60.0, 40.0), (10, 20, 50, 60))
    assert [*got[0], *got[1]] == pytest.approx([10.0, 30.0 + 10.0 / 6.0, 50.0, 30.0 + 50.0 / 6.0])


def test_clip_segment_on_and_beside_the_window_edges():
    assert G.clip_segment((10, 25), (10, 55), (10, 20, 50, 60)) == ((10.0, 25.0), (10.0, 55.0))  # on the left edge
    assert G.clip_segment((9, 25), (9, 55), (10, 20, 50, 60)) is None  # just outside it
    assert G.clip_segment((20, 60), (40, 60), (10, 20, 50, 60)) == ((20.0, 60.0), (40.0, 60.0))  # on the bottom
    assert G.clip_segment((0, 0), (10, 20), (10, 20, 50, 60)) == ((10.0, 20.0), (10.0, 20.0))  # touches a corner
    assert G.clip_segment((0, 0), (9.5, 20), (10, 20, 50, 60)) is None


def test_accepts_objects_with_to_dict():
    class Obj:
        def to_dict(self):
            return {"desc": "x", "bbox_2d": [1, 2, 3, 4]}

    assert G.hflip([Obj()], 10, 10) == [{"desc": "x", "bbox_2d": [7.0, 2.0, 9.0, 4.0]}]
