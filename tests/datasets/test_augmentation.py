"""Augmentation pipeline: the typed config it runs, determinism, bypass/curriculum, op semantics, and that
image and coordinates move together."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage
from support.augment import apply_op, pipeline_of, sections, values

from src.config.schema_augmentation import OP_BY_NAME, AugmentationConfig, AugmentationCurriculum
from src.datasets import aug_ops
from src.datasets import geometry as G
from src.datasets.aug_ops import CROP_ATTEMPTS
from src.datasets.augmentation import AugmentationPipeline
from src.datasets.image_frame import ImageFrame

ALL_OPS = [
    {"name": "hflip", "prob": 0.5},
    {"name": "vflip", "prob": 0.5},
    {"name": "rotate", "prob": 0.5, "max_degrees": 20},
    {"name": "scale", "prob": 0.5, "min_scale": 0.7, "max_scale": 1.3},
    {"name": "crop", "prob": 0.5, "min_scale": 0.6, "max_scale": 0.9, "min_coverage": 0.3},
    {"name": "color", "prob": 0.5, "brightness": 0.3, "contrast": 0.3, "saturation": 0.3},
]
W, H = 192, 128
OBJECTS = [
    {"desc": "box", "bbox_2d": [20, 16, 80, 60]},
    {"desc": "tri", "poly": [100.5, 20.5, 170.5, 40.5, 120.5, 100.5]},
    {"desc": "line", "line": [10.5, 110.5, 90.5, 80.5, 180.5, 120.5]},
]


def noise_image(seed: int = 0, size: tuple[int, int] = (W, H)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def pipeline(ops=ALL_OPS, enabled=True, bypass_prob=0.0, curriculum=None) -> AugmentationPipeline:
    return pipeline_of({"enabled": enabled, "bypass_prob": bypass_prob, "ops": ops}, curriculum)


# ------------------------------------------------------------------------------------------ config


def test_pipeline_from_validated_dicts():
    pipe = pipeline_of(
        {"enabled": True, "bypass_prob": 0.2, "ops": ALL_OPS[2:4]},
        {"phases": [{"until_percent": 50, "bypass_prob": 0.9}, {"until_percent": 100, "bypass_prob": 0.1}]},
    )
    assert pipe.config.enabled and [op.name for op in pipe.config.ops] == ["rotate", "scale"]
    assert pipe.curriculum.unit == "percent" and pipe.curriculum.milestones == (0.0, 50.0, 100.0)
    assert values(pipe.config_at(0, 10)) == (0.2, ({"prob": 0.5, "max_degrees": 20.0},
                                                   {"prob": 0.5, "min_scale": 0.7, "max_scale": 1.3}))
    assert pipe.config_at(10, 10).bypass_prob == 0.1


def test_pipeline_uses_typed_objects_as_they_are():
    """Typed schema models are used as they are (no copy, no second validation); the default is disabled."""
    aug = AugmentationConfig(enabled=True, bypass_prob=0.1, ops=[{"name": "rotate", "prob": 1.0, "max_degrees": 5}])
    cur = AugmentationCurriculum(phases=[{"until_step": 4, "bypass_prob": 0.75}])
    pipe = AugmentationPipeline(aug, cur)
    assert pipe.config is aug and pipe.config_at(0, 0) is aug
    assert [op.name for op in pipe.config.ops] == ["rotate"] and pipe.curriculum.unit == "step"
    assert pipe.config_at(2, 0).bypass_prob == pytest.approx(0.425)
    assert AugmentationPipeline(AugmentationConfig()).config.enabled is False


def test_the_schema_ops_are_the_pipeline_ops():
    """One definition: every schema op has exactly one op function, and what the curriculum ramps are fields."""
    kinds = [set(aug_ops.AFFINE), set(aug_ops.COLOUR), set(aug_ops.BARRIER), {"expand_to_fit_affine"}]
    assert set().union(*kinds) == set(OP_BY_NAME) and sum(map(len, kinds)) == len(OP_BY_NAME)
    assert all(set(model.ramped()) <= set(model.model_fields) for model in OP_BY_NAME.values())


@pytest.mark.parametrize(
    "aug, match",
    [
        ({"enabled": True, "ops": [{"name": "blur", "prob": 1}]}, "does not match any of the expected tags"),
        ({"enabled": True, "ops": [{"name": "hflip"}]}, r"ops\.0\.hflip\.prob\n  Field required"),
        ({"enabled": True, "ops": [{"name": "hflip", "prob": 1.5}]}, "less than or equal to 1"),
        ({"enabled": True, "ops": [{"name": "rotate", "prob": 1}]}, r"rotate\.max_degrees\n  Field required"),
        ({"enabled": True, "ops": [{"name": "hflip", "prob": 1, "degrees": 3}]}, "Extra inputs are not permitted"),
        ({"enabled": True, "ops": [{"name": "scale", "prob": 1, "min_scale": 2, "max_scale": 1}]},
         "min_scale 2.0 is above max_scale 1.0"),
        ({"enabled": True, "ops": [{"name": "crop", "prob": 1, "min_scale": 0.5, "max_scale": 1.2,
                                    "min_coverage": 0.5}]}, "less than or equal to 1"),
        ({"enabled": True, "bypass_prob": -0.1, "ops": []}, "greater than or equal to 0"),
        ({"enabled": True, "ops": [], "profile": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_schema_rejects_bad_config(aug, match):
    with pytest.raises(ValueError, match=match):
        sections(aug)


@pytest.mark.parametrize(
    "cur, match",
    [
        ({"phases": [{"until_percent": 50, "bypass_prob": 0.5}, {"until_percent": 50, "bypass_prob": 0.1}]},
         "must strictly increase"),
        ({"phases": [{"until_percent": 0, "bypass_prob": 0.5}]}, "greater than 0"),
        ({"phases": [{"until_percent": 101}]}, "less than or equal to 100"),
        ({"phases": [{"bypass_prob": 0.5}]}, "exactly one of `until_percent`"),
        ({"phases": [{"until_percent": 10, "until_step": 5}]}, "exactly one of `until_percent`"),
        ({"phases": [{"until_percent": 10}, {"until_step": 50}]}, "mix `until_percent` and `until_step`"),
        ({"phases": [{"until_progress": 0.5, "bypass_prob": 0.5}]}, "Extra inputs are not permitted"),
        ({"stages": []}, "Extra inputs are not permitted"),
        ({"phases": [{"until_step": 3, "ops": {"vflip": {"prob": 0.5}}}]}, "`vflip` names no op"),
        ({"phases": [{"until_step": 3, "ops": {"hflip": {"max_degrees": 5.0}}}]}, "`hflip.max_degrees` cannot be"),
        ({"phases": [{"until_step": 3, "ops": {"hflip": {"prob": [0.1, 0.2]}}}]}, "`hflip.prob` is a number"),
        ({"phases": [{"until_step": 3, "ops": {"hflip": {"prob": 1.5}}}]}, "target of phase 0 is invalid"),
    ],
)
def test_curriculum_rejects_bad_config(cur, match):
    with pytest.raises(ValueError, match=match):
        sections({"enabled": True, "ops": ALL_OPS[:1]}, cur)


def test_curriculum_rejects_an_op_named_twice():
    ops = [{"name": "hflip", "prob": 0.1}, {"name": "hflip", "prob": 0.2}]
    with pytest.raises(ValueError, match=r"`hflip` names 2 ops \(\[0, 1\]\)"):
        sections({"enabled": True, "ops": ops}, {"phases": [{"until_step": 3, "ops": {"hflip": {"prob": 0.5}}}]})
    assert [op.name for op in pipeline_of({"enabled": True, "ops": ops}).config.ops] == ["hflip", "hflip"]


# ------------------------------------------------------------------------------------------ pipeline


def test_disabled_is_identity_and_consumes_no_randomness():
    img = noise_image()
    rng = np.random.default_rng(1)
    state = rng.bit_generator.state
    for pipe in (pipeline(enabled=False), pipeline(ops=[])):
        res = pipe(img, OBJECTS, rng)
        assert res.image is img and res.objects == OBJECTS and res.applied == [] and not res.bypassed
        assert res.objects[0] is not OBJECTS[0] and res.objects[0]["bbox_2d"] is not OBJECTS[0]["bbox_2d"]
    assert rng.bit_generator.state == state


def test_bypass_prob_one_bypasses_and_zero_applies_everything_in_order():
    ops = [dict(o, prob=1.0) for o in ALL_OPS]
    res = pipeline(ops, bypass_prob=1.0)(noise_image(), OBJECTS, np.random.default_rng(0))
    assert res.bypassed and res.applied == [] and res.objects == OBJECTS
    res = pipeline(ops, bypass_prob=0.0)(noise_image(), OBJECTS, np.random.default_rng(0))
    assert not res.bypassed
    assert [a.name for a in res.applied] == ["hflip", "vflip", "rotate", "scale", "crop", "color"]


def test_curriculum_changes_bypass_over_training():
    pipe = pipeline(
        [dict(ALL_OPS[0], prob=1.0)],
        bypass_prob=1.0,
        curriculum={"phases": [{"until_percent": 40, "bypass_prob": 1.0}, {"until_percent": 50, "bypass_prob": 0.0}]},
    )
    img = noise_image()
    early = [pipe(img, OBJECTS, np.random.default_rng(s), global_step=30, total_steps=100) for s in range(20)]
    late = [pipe(img, OBJECTS, np.random.default_rng(s), global_step=70, total_steps=100) for s in range(20)]
    assert all(r.bypassed and r.bypass_prob == 1.0 for r in early)
    assert all(not r.bypassed and r.bypass_prob == 0.0 and r.applied_names == ["hflip"] for r in late)


def test_deterministic_given_seed():
    pipe = pipeline()
    img = noise_image()
    a = pipe(img, OBJECTS, np.random.default_rng(123), global_step=5, total_steps=10)
    b = pipe(img, OBJECTS, np.random.default_rng(123), global_step=5, total_steps=10)
    assert a.objects == b.objects and a.applied == b.applied
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    outcomes = {tuple(pipe(img, OBJECTS, np.random.default_rng(s)).applied_names) for s in range(40)}
    assert len(outcomes) > 10


def test_op_probability_is_honoured():
    pipe = pipeline([{"name": "hflip", "prob": 0.3}], bypass_prob=0.25)
    rng = np.random.default_rng(0)
    img = Image.new("RGB", (8, 8))
    res = [pipe(img, [], rng) for _ in range(4000)]
    bypassed = sum(r.bypassed for r in res) / len(res)
    fired = sum(bool(r.applied) for r in res) / len(res)
    assert bypassed == pytest.approx(0.25, abs=0.02)
    assert fired == pytest.approx(0.75 * 0.3, abs=0.02)


def test_inputs_not_mutated():
    before = [dict(o, **{k: list(v) for k, v in o.items() if k != "desc"}) for o in OBJECTS]
    ops = [dict(o, prob=1.0) for o in ALL_OPS]
    for s in range(10):
        pipeline(ops)(noise_image(), OBJECTS, np.random.default_rng(s))
    assert OBJECTS == before


def test_size_multiple_aligns_after_rotate_and_crop():
    ops = [{"name": "rotate", "prob": 1, "max_degrees": 30}]
    plain = pipeline(ops)(noise_image(), OBJECTS, np.random.default_rng(3))
    assert plain.image.size[0] % 32 or plain.image.size[1] % 32
    pipe = pipeline_of({"enabled": True, "ops": ops}, size_multiple=32)
    res = pipe(noise_image(), OBJECTS, np.random.default_rng(3))
    (w, h), (pw, ph) = res.image.size, plain.image.size
    assert (w, h) == G.scaled_size(pw, ph, 1.0, 32) and w % 32 == 0 and h % 32 == 0
    assert res.applied_names == ["rotate", "align"]
    assert res.objects == G.resize(plain.objects, pw, ph, w, h)
    bypassed = pipeline_of(
        {"enabled": True, "bypass_prob": 1, "ops": ops}, size_multiple=32
    )
    assert bypassed(noise_image(size=(100, 70)), OBJECTS, np.random.default_rng(0)).image.size == (100, 70)


def test_max_pixels_caps_upward_scales_in_the_align_step():
    ops = [{"name": "scale", "prob": 1, "min_scale": 1.6, "max_scale": 1.6}]
    plain = pipeline(ops)(noise_image(), OBJECTS, np.random.default_rng(0))
    pw, ph = plain.image.size
    budget = (pw * ph) // 2
    pipe = pipeline_of({"enabled": True, "ops": ops}, size_multiple=32, max_pixels=budget)
    res = pipe(noise_image(), OBJECTS, np.random.default_rng(0))
    (w, h) = res.image.size
    assert (w, h) == ImageFrame(32, 0, budget).size(pw, ph) and w * h <= budget
    assert res.applied_names == ["scale", "align"] and res.applied[-1].params == {"width": w, "height": h}
    assert res.objects == G.resize(plain.objects, pw, ph, w, h)
    within = pipeline_of({"enabled": True, "ops": ops}, size_multiple=32, max_pixels=pw * ph)
    assert within(noise_image(), OBJECTS, np.random.default_rng(0)).applied_names == ["scale"]
    with pytest.raises(ValueError, match="max_pixels needs size_multiple"):
        pipeline_of({"enabled": True, "ops": ops}, max_pixels=budget)
    with pytest.raises(ValueError, match="max_pixels 1000 is below one 32x32 patch group"):
        pipeline_of({"enabled": True, "ops": ops}, size_multiple=32, max_pixels=1000)


def test_color_never_changes_geometry():
    img = noise_image()
    params = {"brightness": 0.5, "contrast": 0.5, "saturation": 0.5}
    out = apply_op("color", img, OBJECTS, params, np.random.default_rng(0))
    assert out.objects == OBJECTS and out.image.size == img.size
    assert not np.array_equal(np.asarray(out.image), np.asarray(img))
    assert set(out.params) == {"brightness", "contrast", "saturation"}
    assert all(0.5 <= v <= 1.5 for v in out.params.values())


def test_scale_sides_are_multiples_of_32_and_coords_follow_exact_ratio():
    for s in range(20):
        out = apply_op(
            "scale", noise_image(), OBJECTS, {"min_scale": 0.5, "max_scale": 1.5}, np.random.default_rng(s)
        )
        w, h = out.image.size
        assert w % 32 == 0 and h % 32 == 0 and (w, h) == (out.params["width"], out.params["height"])
        assert out.objects == G.resize(OBJECTS, W, H, w, h)


def test_rotate_uses_sampled_angle_and_expands_canvas():
    out = apply_op("rotate", noise_image(), OBJECTS, {"max_degrees": 30}, np.random.default_rng(4))
    deg = out.params["degrees"]
    assert -30 <= deg <= 30
    objs, nw, nh = G.rotate(OBJECTS, W, H, deg)
    assert out.image.size == (nw, nh) and out.objects == objs


def test_crop_drops_under_coverage_and_records_window():
    out = apply_op(
        "crop",
        noise_image(),
        OBJECTS,
        {"min_scale": 0.5, "max_scale": 0.5, "min_coverage": 0.6},
        np.random.default_rng(2),
    )
    window = out.params["window"]
    assert out.image.size == (window[2] - window[0], window[3] - window[1]) == (96, 64)
    ref = G.crop(OBJECTS, window, 0.6)
    assert out.objects == ref.objects
    assert out.params["dropped"] == len(OBJECTS) - len(ref.kept)


def test_crop_that_would_empty_the_sample_is_skipped_after_retries():
    tiny = [{"desc": "corner", "bbox_2d": [0, 0, 4, 4]}]
    out = apply_op(
        "crop",
        noise_image(),
        tiny,
        {"min_scale": 0.3, "max_scale": 0.3, "min_coverage": 1.0},
        np.random.default_rng(0),
    )
    assert out.skipped is not None and out.params == {"attempts": CROP_ATTEMPTS}
    assert out.objects == tiny and out.image.size == (W, H)


# ------------------------------------------------------------------------------------------ image + coords together


def _poly_mask(size: tuple[int, int], coords: list[float]) -> np.ndarray:
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    pts = G.points_of(coords)
    inside = np.zeros(xs.shape, dtype=bool)
    for i in range(len(pts)):
        (x1, y1), (x2, y2) = pts[i], pts[(i + 1) % len(pts)]
        if y1 != y2:
            inside ^= ((y1 > ys) != (y2 > ys)) & (xs < x1 + (ys - y1) * (x2 - x1) / (y2 - y1))
    return inside


@pytest.mark.parametrize("seed", range(12))
def test_full_geometric_pipeline_moves_image_and_coords_together(seed):
    """A polygon drawn into the image stays under the polygon of the transformed coordinates (within
    1 px of its boundary) through random chains of every geometric op."""
    poly = [40.5, 30.5, 150.5, 22.5, 170.5, 90.5, 90.5, 110.5, 30.5, 80.5]
    img = Image.fromarray((_poly_mask((W, H), poly) * 255).astype(np.uint8)).convert("RGB")
    ops = [dict(o, prob=0.7) for o in ALL_OPS if o["name"] != "color"]
    ops[-1] = dict(ops[-1], min_coverage=1.0)  # only crops that keep the polygon whole
    res = pipeline(ops)(img, [{"desc": "p", "poly": poly}], np.random.default_rng(seed))
    assert len(res.objects) == 1 and len(res.objects[0]["poly"]) == len(poly)
    moved = np.asarray(res.image.convert("L")) > 191  # white polygon; black image; middle-gray padding
    expected = _poly_mask(res.image.size, res.objects[0]["poly"])
    band = ndimage.binary_dilation(expected, np.ones((3, 3))) & ~ndimage.binary_erosion(
        expected, np.ones((3, 3))
    )
    assert not ((moved != expected) & ~band).any(), res.applied


def test_vertices_follow_markers_through_a_chain():
    """Point k of the output sits on marker k of the output image: order is preserved end to end."""
    pts = [(40.5, 30.5), (150.5, 22.5), (170.5, 90.5), (30.5, 100.5)]
    img = Image.new("L", (W, H), 0)
    draw = ImageDraw.Draw(img)
    for k, (x, y) in enumerate(pts):
        draw.rectangle([int(x) - 3, int(y) - 3, int(x) + 3, int(y) + 3], fill=50 * (k + 1))
    ops = [
        {"name": "hflip", "prob": 1},
        {"name": "rotate", "prob": 1, "max_degrees": 40},
        {"name": "vflip", "prob": 1},
    ]
    res = pipeline(ops)(img.convert("RGB"), [{"desc": "l", "line": G.flatten(pts)}], np.random.default_rng(5))
    assert res.applied_names == ["hflip", "rotate", "vflip"]  # accumulated: one warp at the end
    arr = np.asarray(res.image.convert("L")).astype(float)
    blank = pipeline(ops)(Image.new("RGB", (W, H)), [], np.random.default_rng(5)).image
    content = ndimage.binary_erosion(np.asarray(blank.convert("L")) < 64, np.ones((3, 3)))  # not padding
    labels, n = ndimage.label((arr > 10) & content)
    assert n == len(pts)
    centres = {}
    for comp in range(1, n + 1):
        k = round(float(arr[labels == comp].max()) / 50) - 1
        cy, cx = ndimage.center_of_mass(arr, labels, comp)  # intensity-weighted
        centres[k] = (cx + 0.5, cy + 0.5)
    assert sorted(centres) == list(range(len(pts)))
    for k, (x, y) in enumerate(G.points_of(res.objects[0]["line"])):
        assert math.dist(centres[k], (x, y)) <= 1.0, (k, centres[k], (x, y))
