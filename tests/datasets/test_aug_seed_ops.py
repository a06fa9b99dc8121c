"""The seed system's ops (`roi_crop`, `resize_by_scale`, `expand_to_fit_affine`, colour ops) and the order
rules: affine ops accumulate into one warp, barriers flush, padding is middle gray, colour never moves
geometry."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from support.augment import apply_op, pipeline_of

from src.config.schema_augmentation import AugmentationConfig
from src.datasets import crop_geometry as CG
from src.datasets import geometry as G
from src.datasets.aug_ops import MIDDLE_GRAY
from src.datasets.augmentation import AugmentationPipeline

GRAY = (MIDDLE_GRAY,) * 3
W, H = 200, 150
OBJECTS = [
    {"desc": "类别=BBU设备,可见性=完整", "bbox_2d": [60, 40, 120, 100]},
    {"desc": "类别=标签,可见性=完整", "poly": [100.5, 20.5, 170.5, 40.5, 120.5, 100.5, 105, 90]},
    {"desc": "类别=线缆,可见性=完整", "line": [10.5, 140.5, 90.5, 80.5, 190.5, 120.5]},
]
ROI = {"anchor_classes": ["BBU设备"], "scale_range": [1.5, 1.5], "min_crop_size": 10,
       "min_coverage": 0.4, "completeness_threshold": 0.95}


def noise(seed: int = 0, size: tuple[int, int] = (W, H)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def arr(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(int)


def pipe(ops: list[dict], **kw) -> AugmentationPipeline:
    return pipeline_of({"enabled": True, "ops": ops}, **kw)


# ------------------------------------------------------------------------------------------ barriers


def test_resize_by_scale_aligns_and_moves_coords_by_exact_ratio():
    for s in range(10):
        out = apply_op("resize_by_scale", noise(), OBJECTS, {"lo": 0.5, "hi": 1.5, "align_multiple": 28},
                       np.random.default_rng(s))
        w, h = out.image.size
        assert w % 28 == 0 and h % 28 == 0 and (w, h) == G.scaled_size(W, H, out.params["factor"], 28)
        assert out.objects == G.resize(OBJECTS, W, H, w, h)
        assert len(out.objects[1]["poly"]) == 8  # a pure scale: the polygon keeps its shape


def test_scale_is_resize_by_scale_spelled_with_min_max_and_32():
    """One resize under two spellings: the same draw gives the same image, objects and sampled factor."""
    for s in range(5):
        ours = apply_op("scale", noise(), OBJECTS, {"min_scale": 0.6, "max_scale": 1.7}, np.random.default_rng(s))
        seed = apply_op("resize_by_scale", noise(), OBJECTS, {"lo": 0.6, "hi": 1.7, "align_multiple": 32},
                        np.random.default_rng(s))
        assert ours.params == seed.params and ours.objects == seed.objects
        assert np.array_equal(np.asarray(ours.image), np.asarray(seed.image))


def test_expand_pads_with_middle_gray_on_the_right_and_bottom():
    img = noise(size=(100, 70))
    out = apply_op("expand_to_fit_affine", img, OBJECTS, {"multiple": 32, "max_pixels": 10**6},
                   np.random.default_rng(0))
    assert out.image.size == (128, 96) and out.params == {"width": 128, "height": 96, "content": (100, 70)}
    a = arr(out.image)
    assert (a[:70, :100] == arr(img)).all()  # content untouched, top-left
    assert (a[70:, :] == GRAY).all() and (a[:, 100:] == GRAY).all()
    assert out.objects == OBJECTS


def test_expand_caps_pixels_by_scaling_the_content():
    out = apply_op("expand_to_fit_affine", noise(), OBJECTS, {"multiple": 32, "max_pixels": 96 * 64},
                   np.random.default_rng(0))
    cw, ch, pw, ph = CG.fit_canvas(W, H, 32, 96 * 64)
    assert out.image.size == (pw, ph) and pw * ph <= 96 * 64 and out.params["content"] == (cw, ch)
    assert out.objects == G.resize(OBJECTS, W, H, cw, ch)
    assert (arr(out.image)[ch:, :] == GRAY).all() and (arr(out.image)[:, cw:] == GRAY).all()


def test_rotate_is_flushed_through_expand_in_one_warp():
    img = noise()
    ops = [{"name": "rotate", "prob": 1.0, "max_degrees": 30}, {"name": "expand_to_fit_affine"}]
    res = pipe(ops)(img, OBJECTS, np.random.default_rng(3))
    deg = res.applied[0].params["degrees"]
    rot = G.rotation(W, H, deg)
    width, height = -(-rot.width // 32) * 32, -(-rot.height // 32) * 32
    assert res.image.size == (width, height) and res.applied_names == ["rotate", "expand_to_fit_affine"]
    assert res.objects == G.apply_affine(OBJECTS, rot.affine, width, height)
    a = arr(res.image)
    assert (a[0, 0] == GRAY).all() and (a[-1, -1] == GRAY).all()  # a rotated corner and the alignment pad
    # the same pixels as warping once with the rotation
    once = img.transform(rot_size := (rot.width, rot.height), Image.Transform.AFFINE, rot.affine.pil_coefficients(),
                         resample=Image.Resampling.BILINEAR, fillcolor=GRAY)
    assert (a[:rot_size[1], :rot_size[0]] == arr(once)).all()


def test_affines_accumulate_and_a_barrier_flushes_them():
    ops = [{"name": "hflip", "prob": 1.0}, {"name": "rotate", "prob": 1.0, "max_degrees": 20},
           {"name": "vflip", "prob": 1.0}, {"name": "resize_by_scale", "prob": 1.0, "lo": 1.0, "hi": 1.0,
                                           "align_multiple": 1}]
    res = pipe(ops)(noise(), OBJECTS, np.random.default_rng(1))
    rot = G.rotation(W, H, res.applied[1].params["degrees"])
    m = G.hflip_affine(W, H).then(rot.affine).then(G.vflip_affine(rot.width, rot.height))
    assert res.image.size == (rot.width, rot.height)
    assert res.objects == G.apply_affine(OBJECTS, m, rot.width, rot.height)


def test_expand_caps_a_pending_rotation_in_the_same_warp():
    ops = [{"name": "rotate", "prob": 1.0, "max_degrees": 45},
           {"name": "expand_to_fit_affine", "multiple": 32, "max_pixels": 160 * 128}]
    res = pipe(ops)(noise(), OBJECTS, np.random.default_rng(7))
    rot = G.rotation(W, H, res.applied[0].params["degrees"])
    cw, ch, pw, ph = CG.fit_canvas(rot.width, rot.height, 32, 160 * 128)
    assert res.image.size == (pw, ph) and pw * ph <= 160 * 128
    shrink = G.Affine(cw / rot.width, 0, 0, 0, ch / rot.height, 0)
    expected = G.apply_affine(OBJECTS, rot.affine.then(shrink), pw, ph)
    for got, want in zip(res.objects, expected, strict=True):
        key = G.geometry_key(want)
        assert got[key] == pytest.approx(want[key], abs=1e-9)


def test_roi_crop_cuts_the_window_and_filters_objects():
    img = noise()
    out = apply_op("roi_crop", img, OBJECTS, ROI, np.random.default_rng(0))
    window = out.params["window"]
    assert window == CG.roi_window((60, 40, 120, 100), 1.5, 10, W, H) == (45, 25, 135, 115)
    assert out.image.size == (90, 90) and (arr(out.image) == arr(img.crop(window))).all()
    ref = CG.roi_crop(OBJECTS, window, 0.4, 0.95)
    assert out.objects == ref.objects and out.params["dropped"] == len(OBJECTS) - len(ref.kept)
    assert out.objects[0] == {"desc": "类别=BBU设备,可见性=完整", "bbox_2d": [15, 15, 75, 75]}
    assert out.params["marked"] == len(ref.marked) > 0


def test_roi_crop_picks_one_of_several_anchors_uniformly():
    objs = [{"desc": "类别=BBU设备", "bbox_2d": [10, 10, 30, 30]}, {"desc": "类别=RRU设备", "bbox_2d": [150, 100, 170, 120]},
            {"desc": "类别=其他", "bbox_2d": [90, 60, 100, 70]}]
    p = dict(ROI, anchor_classes=["BBU设备", "RRU设备"])
    anchors = [apply_op("roi_crop", noise(), objs, p, np.random.default_rng(s)).params["anchor"] for s in range(200)]
    assert set(anchors) == {0, 1} and 70 < anchors.count(0) < 130


def test_roi_crop_skips_without_anchor_or_when_the_window_is_the_image():
    img = noise()
    out = apply_op("roi_crop", img, OBJECTS, dict(ROI, anchor_classes=["RRU设备"]), np.random.default_rng(0))
    assert out.skipped == "no_anchor" and out.image is img and out.objects == OBJECTS
    out = apply_op("roi_crop", img, OBJECTS, dict(ROI, min_crop_size=1000), np.random.default_rng(0))
    assert out.skipped == "full_image" and out.image is img and out.objects == OBJECTS
    res = pipe([dict(ROI, name="roi_crop", prob=1.0, anchor_classes=["X"])])(img, OBJECTS, np.random.default_rng(0))
    assert res.applied_names == [] and res.applied[0].skipped == "no_anchor"


# ------------------------------------------------------------------------------------------ colour


COLOUR_CASES = [
    ("color_jitter", {"brightness": [0.5, 1.5], "contrast": [0.5, 1.5], "saturation": [0.5, 1.5]}),
    ("gamma", {"gamma": [0.5, 2.0]}),
    ("hsv", {"hue_delta_deg": [-30, 30], "sat": [0.5, 1.5], "val": [0.5, 1.5]}),
    ("clahe", {"clip_limit": 3.0, "tile_grid_size": [4, 4]}),
    ("auto_contrast", {"cutoff": 5.0}),
    ("sharpness", {"factor": [0.0, 3.0]}),
]


@pytest.mark.parametrize("name, params", COLOUR_CASES)
def test_colour_ops_change_pixels_never_geometry(name, params):
    img = Image.fromarray((arr(noise()) // 2 + 40).astype(np.uint8))  # low contrast: every op has work
    a = apply_op(name, img, OBJECTS, params, np.random.default_rng(5))
    b = apply_op(name, img, OBJECTS, params, np.random.default_rng(5))
    assert a.objects == OBJECTS and a.image.size == img.size and a.image.mode == "RGB"
    assert not (arr(a.image) == arr(img)).all()
    assert (arr(a.image) == arr(b.image)).all() and a.params == b.params


@pytest.mark.parametrize("name, params", [
    ("color_jitter", {"brightness": [1, 1], "contrast": [1, 1], "saturation": [1, 1]}),
    ("gamma", {"gamma": [1, 1]}),
    ("sharpness", {"factor": [1, 1]}),
    ("auto_contrast", {"cutoff": 0}),
])
def test_colour_identity_settings(name, params):
    img = Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (4, 1))[..., None].repeat(3, axis=2))
    assert (arr(apply_op(name, img, [], params, np.random.default_rng(0)).image) == arr(img)).all()


def test_gamma_and_auto_contrast_values():
    img = Image.new("RGB", (4, 4), (64, 128, 200))
    out = apply_op("gamma", img, [], {"gamma": [2.0, 2.0]}, np.random.default_rng(0)).image
    assert out.getpixel((0, 0)) == tuple(int(np.floor(255 * (v / 255) ** 2 + 0.5)) for v in (64, 128, 200))
    ramp = Image.fromarray(np.linspace(50, 200, 64).astype(np.uint8).reshape(8, 8)).convert("RGB")
    stretched = arr(apply_op("auto_contrast", ramp, [], {"cutoff": 0}, np.random.default_rng(0)).image)
    assert stretched.min() == 0 and stretched.max() == 255


def test_hsv_hue_shift_rotates_colour():
    red = Image.new("RGB", (4, 4), (255, 0, 0))
    green = apply_op("hsv", red, [], {"hue_delta_deg": [120, 120], "sat": [1, 1], "val": [1, 1]},
                     np.random.default_rng(0)).image.getpixel((0, 0))
    assert green[1] == 255 and green[0] <= 6 and green[2] <= 6
    same = apply_op("hsv", red, [], {"hue_delta_deg": [0, 0], "sat": [1, 1], "val": [1, 1]},
                    np.random.default_rng(0)).image
    assert same.getpixel((0, 0)) == (255, 0, 0)


def test_colour_before_a_pending_warp_leaves_the_padding_gray():
    img = Image.new("RGB", (W, H), (100, 100, 100))
    ops = [{"name": "rotate", "prob": 1.0, "max_degrees": 30},
           {"name": "color_jitter", "prob": 1.0, "brightness": [2.0, 2.0]},
           {"name": "gamma", "prob": 1.0, "gamma": [0.5, 0.5]},
           {"name": "expand_to_fit_affine"}]
    res = pipe(ops)(img, [], np.random.default_rng(3))
    a = arr(res.image)
    assert (a[0, 0] == GRAY).all() and (a[-1, -1] == GRAY).all()
    h, w = a.shape[:2]
    assert (a[h // 2, w // 2] == round(255 * (200 / 255) ** 0.5)).all()  # content: brightened, then gamma


# ------------------------------------------------------------------------------------------ order rules


def test_expand_must_follow_every_size_changing_op():
    with pytest.raises(ValueError, match=r"expand_to_fit_affine \(ops\[0\]\) must come after every size-changing "
                                         r"op, but rotate \(ops\[2\]\) follow it"):
        AugmentationConfig(ops=[{"name": "expand_to_fit_affine"}, {"name": "hflip", "prob": 1.0},
                                {"name": "rotate", "prob": 1.0, "max_degrees": 3}])
    AugmentationConfig(ops=[{"name": "rotate", "prob": 1.0, "max_degrees": 3}, {"name": "expand_to_fit_affine"},
                            {"name": "hflip", "prob": 1.0}, {"name": "gamma", "prob": 1.0, "gamma": [1, 2]}])


def test_schema_defaults_are_the_guides():
    cfg = AugmentationConfig(ops=[{"name": "roi_crop", "prob": 0.3, "anchor_classes": ["BBU设备"]},
                                  {"name": "expand_to_fit_affine"}, {"name": "clahe", "prob": 0.1, "clip_limit": 2.0},
                                  {"name": "auto_contrast", "prob": 0.1}])
    roi, expand, clahe, auto = cfg.ops
    assert (roi.scale_range, roi.min_crop_size, roi.min_coverage, roi.completeness_threshold) == (
        [1.25, 2.3], 384, 0.4, 0.95)
    assert (expand.multiple, expand.max_pixels) == (32, 921600) and "prob" not in type(expand).model_fields
    assert clahe.tile_grid_size == [8, 8] and auto.cutoff == 0.0


@pytest.mark.parametrize("op, match", [
    ({"name": "roi_crop", "prob": 1, "anchor_classes": []}, "at least 1 item"),
    ({"name": "roi_crop", "prob": 1, "anchor_classes": ["a"], "scale_range": [2.0, 1.0]}, "lo <= hi"),
    ({"name": "roi_crop", "prob": 1, "anchor_classes": ["a"], "scale_range": [0.0, 1.0]}, "must be > 0"),
    ({"name": "resize_by_scale", "prob": 1, "lo": 1.2, "hi": 1.1}, "lo 1.2 is above hi 1.1"),
    ({"name": "expand_to_fit_affine", "max_pixels": 1000}, "below one 32x32 cell"),
    ({"name": "expand_to_fit_affine", "prob": 0.5}, "Extra inputs"),
    ({"name": "color_jitter", "prob": 1, "brightness": [-0.5, 1.0]}, "factors must be >= 0"),
    ({"name": "color_jitter", "prob": 1, "brightness": [0.5]}, "at least 2 items"),
    ({"name": "gamma", "prob": 1, "gamma": [0.0, 1.0]}, "must be > 0"),
    ({"name": "hsv", "prob": 1, "hue_delta_deg": [-200, 0]}, r"\[-180, 180\]"),
    ({"name": "hsv", "prob": 1, "hue_delta_deg": [0, 200]}, r"\[-180, 180\]"),
    ({"name": "hsv", "prob": 1, "val": [-1, 1]}, "factors must be >= 0"),
    ({"name": "clahe", "prob": 1}, "Field required"),
    ({"name": "auto_contrast", "prob": 1, "cutoff": 50}, "less than 50"),
    ({"name": "sharpness", "prob": 1, "factor": [2, 1]}, "lo <= hi"),
])
def test_schema_rejects_bad_ops(op, match):
    with pytest.raises(ValueError, match=match):
        AugmentationConfig(ops=[op])
