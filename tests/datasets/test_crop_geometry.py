"""ROI-crop geometry and the final canvas fit: exact coordinates, coverage filter, completeness marker."""

from __future__ import annotations

import math

import pytest

from src.datasets import crop_geometry as CG
from src.datasets import geometry as G

BBU = "类别=BBU设备,可见性=完整"


# ------------------------------------------------------------------------------------------ desc tokens


def test_anchor_match_is_exact_on_the_category_token():
    assert CG.desc_tokens("类别=BBU设备, 可见性=完整，备注=x") == ["类别=BBU设备", "可见性=完整", "备注=x"]
    assert CG.is_anchor({"desc": BBU, "bbox_2d": [0, 0, 1, 1]}, ["RRU设备", "BBU设备"])
    assert not CG.is_anchor({"desc": "类别=机柜处接地螺丝", "bbox_2d": [0, 0, 1, 1]}, ["机柜"])  # no substring match
    assert not CG.is_anchor({"desc": "BBU设备", "bbox_2d": [0, 0, 1, 1]}, ["BBU设备"])  # the key is required
    assert not CG.is_anchor({"desc": "类别=BBU设备X", "bbox_2d": [0, 0, 1, 1]}, ["BBU设备"])


@pytest.mark.parametrize("desc, expected", [
    ("类别=BBU设备,可见性=完整,备注=x", "类别=BBU设备,可见性=部分,备注=x"),
    ("类别=BBU设备, 可见性=完整", "类别=BBU设备, 可见性=部分"),  # spacing kept
    ("可见性=完整", "可见性=部分"),
    ("类别=BBU设备,可见性=完整度高", "类别=BBU设备,可见性=完整度高"),  # not the exact token
    ("类别=BBU设备,可见性=部分", "类别=BBU设备,可见性=部分"),
    ("red box", "red box"),
])
def test_mark_partial(desc, expected):
    assert CG.mark_partial(desc) == expected


def test_bounds_of_each_geometry():
    assert CG.bounds({"desc": "a", "bbox_2d": [1, 2, 3, 4]}) == (1, 2, 3, 4)
    assert CG.bounds({"desc": "a", "poly": [5, 1, 9, 7, 2, 3]}) == (2, 1, 9, 7)
    assert CG.bounds({"desc": "a", "line": [4, 8, 0, 6]}) == (0, 6, 4, 8)


# ------------------------------------------------------------------------------------------ window


@pytest.mark.parametrize("anchor, scale, min_size, size, window", [
    ((100, 80, 220, 200), 1.5, 100, (400, 300), (70, 50, 250, 230)),  # 120 x 1.5 = 180, centred
    ((100, 80, 220, 200), 1.5, 384, (400, 300), (0, 0, 384, 300)),  # min size, clamped to the image
    ((350, 10, 390, 50), 2.0, 50, (400, 300), (320, 0, 400, 80)),  # shifted inside, not shrunk
    ((10, 10, 20, 30), 1.25, 1, (400, 300), (9, 8, 22, 33)),  # 12.5 x 25 -> ceil 13 x 25, half up
    ((0, 0, 400, 300), 2.0, 10, (400, 300), (0, 0, 400, 300)),  # whole image at most
    ((5, 5, 5, 5), 2.0, 0.5, (400, 300), (5, 5, 6, 6)),  # a point anchor: one pixel at least
])
def test_roi_window(anchor, scale, min_size, size, window):
    assert CG.roi_window(anchor, scale, min_size, *size) == window


# ------------------------------------------------------------------------------------------ clipping


def test_clip_bbox_to_intersection_in_window_frame():
    window = (100, 100, 300, 300)
    assert CG.clip_object({"desc": "b", "bbox_2d": [50, 50, 150, 150]}, window)["bbox_2d"] == [0, 0, 50, 50]
    assert CG.clip_object({"desc": "b", "bbox_2d": [120, 130, 140, 150]}, window)["bbox_2d"] == [20, 30, 40, 50]
    assert CG.clip_object({"desc": "b", "bbox_2d": [0, 0, 50, 50]}, window) is None
    assert CG.clip_object({"desc": "b", "bbox_2d": [0, 120, 50, 140]}, window) is None  # outside in x only
    assert CG.clip_object({"desc": "b", "bbox_2d": [120, 0, 140, 50]}, window) is None  # outside in y only
    assert CG.clip_object({"desc": "b", "bbox_2d": [100, 250, 120, 280]}, window)["bbox_2d"] == [0, 150, 20, 180]
    assert CG.clip_object({"desc": "b", "bbox_2d": [250, 100, 280, 120]}, window)["bbox_2d"] == [150, 0, 180, 20]
    # degenerate boxes stay degenerate, not dropped
    assert CG.clip_object({"desc": "b", "bbox_2d": [150, 120, 150, 180]}, window)["bbox_2d"] == [50, 20, 50, 80]
    assert CG.clip_object({"desc": "b", "bbox_2d": [120, 150, 180, 150]}, window)["bbox_2d"] == [20, 50, 80, 50]


def test_clip_poly_is_exact_intersection():
    square = {"desc": "p", "poly": [50, 50, 150, 50, 150, 150, 50, 150]}
    assert CG.clip_object(square, (100, 100, 300, 300))["poly"] == [0, 0, 50, 0, 50, 50, 0, 50]
    tri = {"desc": "t", "poly": [0, 0, 200, 0, 0, 200]}
    out = CG.clip_object(tri, (0, 0, 150, 150))
    assert out["poly"] == [0, 150, 0, 0, 150, 0, 150, 50, 50, 150]  # 5 vertices: the silhouette, not a box
    assert G.polygon_area(G.points_of(out["poly"])) == 20000 - 2 * 1250


def test_clip_poly_inside_is_only_translated():
    poly = {"desc": "p", "poly": [120.5, 110.25, 180, 140, 130, 190, 119, 150], "extra": 1}
    out = CG.clip_object(poly, (100, 100, 300, 300))
    assert out == {"desc": "p", "poly": [20.5, 10.25, 80, 40, 30, 90, 19, 50], "extra": 1}


def test_objects_touching_the_window_edges_are_only_translated():
    # inside up to the border: the exact input points, no clip arithmetic (it would give 124.80000000000001)
    line = {"desc": "l", "line": [100.0, 104.3, 292.2, 137.0, 124.8, 142.1]}
    assert CG.clip_object(line, (100, 100, 300, 300))["line"] == pytest.approx([0.0, 4.3, 192.2, 37.0, 24.8, 42.1],
                                                                              abs=1e-12)
    assert CG.clip_object(line, (100, 100, 300, 300))["line"][4] == 124.8 - 100
    for edge in ([300.0, 104.3, 292.2, 137.0, 124.8, 142.1], [150.0, 100.0, 292.2, 137.0, 124.8, 142.1],
                 [150.0, 300.0, 292.2, 137.0, 124.8, 142.1]):
        out = CG.clip_object({"desc": "l", "line": edge}, (100, 100, 300, 300))["line"]
        assert out == [v - 100 for v in edge]


def test_clip_poly_drops_duplicate_vertices():
    # a corner on the window edge: clipping repeats (100, 100); it is kept once
    poly = {"desc": "p", "poly": [100, 100, 200, 100, 200, 200, 50, 50]}
    out = CG.clip_object(poly, (100, 100, 300, 300))
    pts = G.points_of(out["poly"])
    assert all(p != q for p, q in zip(pts, pts[1:] + pts[:1]))
    assert out["poly"] == [0, 0, 100, 0, 100, 100]


def test_clip_line_segmentwise():
    line = {"desc": "l", "line": [0, 50, 200, 50, 200, 250]}
    assert CG.clip_object(line, (100, 0, 300, 100))["line"] == [0, 50, 100, 50, 100, 100]
    assert CG.clip_object(line, (300, 0, 400, 100)) is None
    # a corner touch leaves a single point: not a line
    assert CG.clip_object({"desc": "l", "line": [0, 0, 100, 100]}, (100, 100, 200, 200)) is None
    # a closed loop keeps its repeated end point (a line is never treated as a ring)
    loop = {"desc": "l", "line": [10, 10, 150, 10, 10, 90, 10, 10]}
    assert CG.clip_object(loop, (0, 0, 100, 100))["line"] == pytest.approx(
        [10, 10, 100, 10, 100, 10 + 80 * 50 / 140, 10, 90, 10, 10])
    # leaving and re-entering: the visible pieces are joined in order
    zig = {"desc": "l", "line": [10, 10, 10, 90, 200, 90, 90, 10]}
    assert CG.clip_object(zig, (0, 0, 100, 100))["line"] == pytest.approx([10, 10, 10, 90, 100, 90, 100,
                                                                          90 - 80 * 100 / 110, 90, 10])


# ------------------------------------------------------------------------------------------ roi_crop


def test_roi_crop_coverage_filter_and_completeness_marker():
    objects = [
        {"desc": BBU, "bbox_2d": [120, 120, 180, 180]},  # 0: inside, coverage 1
        {"desc": "类别=标签,可见性=完整", "bbox_2d": [50, 100, 150, 200]},  # 1: coverage 0.5: kept, marked
        {"desc": "类别=标签,可见性=完整", "bbox_2d": [30, 100, 130, 200]},  # 2: coverage 0.3: dropped
        {"desc": "类别=线缆,可见性=完整", "line": [0, 150, 110, 150]},  # 3: coverage 1/11: a line, kept
        {"desc": "类别=螺丝,可见性=完整", "poly": [0, 0, 50, 0, 50, 50]},  # 4: outside
        {"desc": "类别=标签,可见性=完整", "poly": [100, 150, 300, 150, 300, 306, 100, 306]},  # 5: 150 / 156
        {"desc": "plain", "bbox_2d": [90, 90, 110, 110]},  # 6: coverage 0.25 < 0.4, dropped
    ]
    res = CG.roi_crop(objects, (100, 100, 300, 300), min_coverage=0.4, completeness_threshold=0.95)
    assert res.coverages == pytest.approx([1.0, 0.5, 0.3, 10 / 110, 0.0, 150 / 156, 0.25])
    assert res.kept == [0, 1, 3, 5] and res.marked == [1, 3] and (res.width, res.height) == (200, 200)
    assert res.objects == [
        {"desc": BBU, "bbox_2d": [20, 20, 80, 80]},
        {"desc": "类别=标签,可见性=部分", "bbox_2d": [0, 0, 50, 100]},
        {"desc": "类别=线缆,可见性=部分", "line": [0, 50, 10, 50]},
        {"desc": "类别=标签,可见性=完整", "poly": [0, 200, 0, 50, 200, 50, 200, 200]},  # same cycle, new start
    ]
    assert objects[1]["desc"] == "类别=标签,可见性=完整"  # inputs untouched


def test_roi_crop_threshold_edges():
    obj = [{"desc": "类别=a,可见性=完整", "bbox_2d": [50, 0, 150, 100]}]  # coverage exactly 0.5
    keep = CG.roi_crop(obj, (100, 0, 200, 100), min_coverage=0.5, completeness_threshold=0.5)
    assert keep.kept == [0] and keep.marked == []  # >= min_coverage kept; not below the threshold
    drop = CG.roi_crop(obj, (100, 0, 200, 100), min_coverage=0.51, completeness_threshold=1.0)
    assert drop.kept == [] and drop.objects == []
    with pytest.raises(ValueError, match="empty crop window"):
        CG.roi_crop(obj, (10, 10, 10, 20), 0.5, 0.5)
    with pytest.raises(ValueError, match="empty crop window"):
        CG.roi_crop(obj, (10, 10, 20, 10), 0.5, 0.5)


def test_roi_crop_drops_a_degenerate_polygon_that_clips_to_a_segment_and_goes_on():
    objects = [{"desc": "flat", "poly": [0, 5, 200, 5, 0, 5]},  # zero area: coverage by outline, 0.75
               {"desc": "in", "bbox_2d": [60, 2, 70, 8]}]
    res = CG.roi_crop(objects, (50, 0, 300, 10), min_coverage=0.1, completeness_threshold=0.0)
    assert res.coverages == [0.75, 1.0] and res.kept == [1]
    assert res.objects == [{"desc": "in", "bbox_2d": [10, 2, 20, 8]}]


def test_roi_crop_drops_invisible_objects_even_without_a_coverage_floor():
    objects = [{"desc": "edge", "bbox_2d": [50, 100, 100, 200]},  # shares the window's left edge: 0 visible
               {"desc": "in", "bbox_2d": [150, 150, 160, 160]}]
    res = CG.roi_crop(objects, (100, 100, 300, 300), min_coverage=0.0, completeness_threshold=1.0)
    assert res.kept == [1] and res.coverages == [0.0, 1.0]


# ------------------------------------------------------------------------------------------ fit_canvas


@pytest.mark.parametrize("size, multiple, cap, expected", [
    ((100, 60), 32, 10**6, (100, 60, 128, 64)),
    ((128, 64), 32, 10**6, (128, 64, 128, 64)),
    ((1000, 1000), 32, 921600, (960, 960, 960, 960)),
    ((1300, 700), 32, 921600, (1280, 689, 1280, 704)),
    ((5000, 10), 32, 32 * 32, (32, 1, 32, 32)),
    ((100, 60), 32, 128 * 64, (100, 60, 128, 64)),  # the padded size is exactly the cap: no scaling
    ((1000, 1000), 32, 30 * 31 * 1024, (960, 960, 960, 992)),  # a tie shrinks the width first
    ((40, 40), 32, 2048, (32, 32, 32, 64)),
    ((5, 3), 1, 15, (5, 3, 5, 3)),
])
def test_fit_canvas(size, multiple, cap, expected):
    assert CG.fit_canvas(*size, multiple, cap) == expected


@pytest.mark.parametrize("w", [1, 33, 257, 999, 1449, 2048])
@pytest.mark.parametrize("h", [7, 64, 333, 1024, 1811])
def test_fit_canvas_properties(w, h):
    for cap, m in ((921600, 32), (2097152, 32), (50000, 28)):
        cw, ch, pw, ph = CG.fit_canvas(w, h, m, cap)
        assert pw % m == 0 and ph % m == 0 and pw * ph <= cap and cw <= pw and ch <= ph
        if (-(-w // m)) * (-(-h // m)) * m * m <= cap:
            assert (cw, ch) == (w, h) and pw - w < m and ph - h < m
        else:
            f = min(pw / w, ph / h)
            assert abs(cw - w * f) <= 0.5 + 1e-9 and abs(ch - h * f) <= 0.5 + 1e-9 or min(cw, ch) == 1
            assert pw - cw < m or ph - ch < m  # one side is filled up to its cell
    with pytest.raises(ValueError, match=r"need multiple > 0 and max_pixels >= multiple\*\*2, got 32, 1000"):
        CG.fit_canvas(w, h, 32, 1000)
    with pytest.raises(ValueError, match="got 0, 1000"):
        CG.fit_canvas(w, h, 0, 1000)
    assert math.isfinite(w)
