"""Each format's coordinate convention, pinned: the contract's frame is [0, W] x [0, H], pixel i spans [i, i+1)."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from src.datasets.convert.frames import (
    coco_box,
    corners_box,
    join_polygons,
    polygon_area,
    voc_box,
    yolo_box,
    yolo_points,
)


def test_coco_xywh_is_a_corner_plus_size():
    assert coco_box(3.25, 4.5, 17.5, 25.625) == (3.25, 4.5, 20.75, 30.125)


def test_yolo_centre_size_normalised_by_the_image():
    # a box over the whole 64x48 image, and one over pixel column 0..15, rows 12..24
    assert yolo_box(0.5, 0.5, 1.0, 1.0, 64, 48) == (0, 0, 64, 48)
    assert yolo_box(8 / 64, 18 / 48, 16 / 64, 12 / 48, 64, 48) == pytest.approx((0, 12, 16, 24), abs=1e-9)
    assert yolo_points([0.5, 0.25, 1.0, 1.0], 64, 48) == (32, 12, 64, 48)


def test_voc_corners_are_one_based_inclusive_pixel_indices():
    # VOC xmin=1 is the first pixel column (which starts at 0); xmax=W is the last one (which ends at W)
    assert voc_box(1, 1, 64, 48) == (0, 0, 64, 48)
    # a single-pixel box: pixel (9, 19) 0-based = (10, 20) 1-based, covering [9, 10) x [19, 20)
    assert voc_box(10, 20, 10, 20) == (9, 19, 10, 20)


def test_labelme_rectangle_corners_in_any_order():
    assert corners_box([[20.75, 4.5], [3.25, 30.125]]) == (3.25, 4.5, 20.75, 30.125)


def _mask(coords, h=40, w=60):
    rles = mask_utils.frPyObjects([list(coords)], h, w)
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


def test_joined_polygon_covers_exactly_the_union_of_its_parts():
    parts = [[2, 2, 20, 2, 20, 15, 2, 15], [30, 20, 50, 20, 40, 35], [5, 25, 12, 25, 12, 38, 5, 38]]
    joined = join_polygons(parts)
    xs, ys = joined[0::2], joined[1::2]
    assert (min(xs), min(ys), max(xs), max(ys)) == (2, 2, 50, 38)  # the union's bounding box
    union = np.zeros((40, 60), bool)
    for p in parts:
        union |= _mask(p)
    assert (_mask(joined) == union).all()
    assert polygon_area(joined) == pytest.approx(sum(polygon_area(p) for p in parts))
