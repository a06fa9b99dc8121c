"""Sample pictures: render_sample draws every geometry where it is, and the visualize_samples CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from src.datasets.records import DenseObject
from src.datasets.visualize import desc_colour, render_sample

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI = REPO_ROOT / "scripts" / "visualize_samples.py"
GREY = (128, 128, 128)


def _coloured(img: Image.Image, colour) -> np.ndarray:
    return np.all(np.asarray(img) == np.array(colour, dtype=np.uint8), axis=-1)


def test_box_outline_is_drawn_exactly_on_the_box_and_input_untouched():
    image = Image.new("RGB", (120, 90), GREY)
    box = DenseObject("box", "bbox_2d", (20, 30, 70, 60))
    out = render_sample(image, [box], line_width=1, label=False)
    assert out.size == (120, 90) and out.mode == "RGB"
    assert np.all(np.asarray(image) == GREY)  # input not modified
    mask = _coloured(out, desc_colour("box"))
    ys, xs = np.nonzero(mask)
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == (20, 30, 70, 60)
    assert mask[30, 20:71].all() and mask[60, 20:71].all() and mask[30:61, 20].all() and mask[30:61, 70].all()
    assert not mask[31:60, 21:70].any()  # outline only


def test_polygon_is_closed_and_line_is_open():
    image = Image.new("RGB", (100, 100), GREY)
    poly = DenseObject("poly", "poly", (10, 10, 90, 10, 10, 90))
    out = render_sample(image, [poly], line_width=1, label=False)
    mask = _coloured(out, desc_colour("poly"))
    assert mask[50, 10] and mask[10, 50] and mask[50, 50]  # the closing edge (10,90)->(10,10) and the others
    line = DenseObject("wire", "line", (10, 10, 90, 10, 10, 90))
    out = render_sample(image, [line], line_width=1, label=False)
    mask = _coloured(out, desc_colour("wire"))
    assert mask[10, 50] and mask[50, 50] and not mask[50, 10]  # no closing edge


def test_labels_use_the_desc_colour_and_accept_object_dicts():
    image = Image.new("L", (160, 120), 100)  # any mode in, RGB out
    out = render_sample(image, [{"desc": "wire", "line": [5, 60, 150, 60]}])
    assert out.mode == "RGB"
    assert _coloured(out, desc_colour("wire"))[:60].sum() > 50  # a filled label box above the line
    assert desc_colour("wire") == desc_colour("wire")
    with pytest.raises(ValueError):
        render_sample(image, [{"desc": "bad", "poly": [1, 2, 3, 4]}])


@pytest.fixture
def jsonl(tmp_path: Path) -> Path:
    (tmp_path / "images").mkdir()
    lines = []
    for i in range(5):
        Image.new("RGB", (64, 48), (i * 40, 90, 90)).save(tmp_path / "images" / f"{i}.png")
        lines.append(json.dumps({"images": [f"images/{i}.png"], "width": 64, "height": 48,
                                 "objects": [{"desc": f"o{i}", "bbox_2d": [4, 4, 40, 30]},
                                             {"desc": "l", "line": [0, 47, 63, 0]}]}))
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CLI), *args], capture_output=True, text=True, timeout=120,
                          check=False)


def test_cli_writes_n_pngs_from_a_jsonl(jsonl: Path, tmp_path: Path):
    out = tmp_path / "vis"
    res = _cli("--jsonl", str(jsonl), "--num", "3", "--out", str(out), "--seed", "1")
    assert res.returncode == 0, res.stderr
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 3
    assert all(p.name.startswith(f"{k:03d}_set_L") for k, p in enumerate(pngs))
    with Image.open(pngs[0]) as im:
        assert im.size == (64, 48)
    again = tmp_path / "vis2"
    _cli("--jsonl", str(jsonl), "--num", "3", "--out", str(again), "--seed", "1")
    assert [p.name for p in sorted(again.glob("*.png"))] == [p.name for p in pngs]  # seeded choice


def test_cli_caps_num_at_the_number_of_records(jsonl: Path, tmp_path: Path):
    res = _cli("--jsonl", str(jsonl), "--num", "50", "--out", str(tmp_path / "v"))
    assert res.returncode == 0
    assert len(list((tmp_path / "v").glob("*.png"))) == 5


def test_cli_user_errors_exit_2_without_traceback(jsonl: Path, tmp_path: Path):
    res = _cli("--jsonl", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "v"))
    assert res.returncode == 2 and "no such JSONL file" in res.stderr and "Traceback" not in res.stderr
    (jsonl.parent / "images" / "2.png").unlink()
    res = _cli("--jsonl", str(jsonl), "--num", "5", "--out", str(tmp_path / "v"))
    assert res.returncode == 2 and f"{jsonl}:3: cannot open image" in res.stderr
    assert "Traceback" not in res.stderr
    res = _cli("--out", str(tmp_path / "v"))
    assert res.returncode == 2 and "one of the arguments --config --jsonl is required" in res.stderr


def test_render_samples_compare_and_curriculum_position(jsonl: Path, tmp_path: Path):
    """--compare draws stored | augmented; --step picks the curriculum's values; names list the ops."""
    import importlib.util

    from support.augment import pipeline_of

    from src.datasets.jsonl_index import JsonlIndex

    spec = importlib.util.spec_from_file_location("visualize_samples", CLI)
    vis = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(vis)
    pipeline = pipeline_of(
        {"enabled": True, "bypass_prob": 1.0,
         "ops": [{"name": "roi_crop", "prob": 1.0, "anchor_classes": ["BBU设备"]},
                 {"name": "resize_by_scale", "prob": 1.0, "lo": 2.0, "hi": 2.0, "align_multiple": 32}]},
        {"phases": [{"until_step": 10, "bypass_prob": 0.0}]}, size_multiple=32)
    indexes = [("set", JsonlIndex(jsonl), pipeline)]
    start = vis.render_samples(indexes, 2, tmp_path / "a", 0, step=0, total_steps=10, compare=True)
    assert all(p.name.endswith("_bypassed.png") for p in start)
    with Image.open(start[0]) as im:
        assert im.size == (64 + 8 + 64, 48)
    end = vis.render_samples(indexes, 2, tmp_path / "b", 0, step=10, total_steps=10, compare=True)
    assert all(p.name.endswith("_roi_crop!no_anchor+resize_by_scale.png") for p in end)
    with Image.open(end[0]) as im:
        assert im.size == (64 + 8 + 128, 96)
