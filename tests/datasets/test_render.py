"""Assistant target rendering (dense JSON / CoordJSON / summary / prefix) and its inverse."""

from __future__ import annotations

import json

import numpy as np
import pytest

from src.datasets.coordjson import CoordJSONError, parse_prediction
from src.datasets.records import DenseObject, Record, RecordSource, parse_record
from src.datasets.render import (
    RenderError,
    encode_coords,
    order_objects,
    parse_target,
    prefix_fields,
    render_dense,
    render_prefix,
    render_target,
)


def record(**extra) -> Record:
    data = {
        "images": ["images/a.png"], "width": 200, "height": 100,
        "objects": [
            {"desc": "late", "bbox_2d": [50, 60, 80, 90]},
            {"desc": "tri", "poly": [150, 40, 100, 10, 199.6, 30]},
            {"desc": "wire", "line": [10.5, 10, 20, 99.4]},
        ],
        **extra,
    }
    return parse_record(data, RecordSource("d/train.jsonl", 4))


def test_pixel_target_is_pinned():
    assert render_target(record()) == (
        '{"objects": [{"desc": "wire", "line": [11, 10, 20, 99]}, '
        '{"desc": "tri", "poly": [150, 40, 100, 10, 200, 30]}, '
        '{"desc": "late", "bbox_2d": [50, 60, 80, 90]}]}'
    )


def test_norm1000_target_is_pinned():
    assert render_target(record(), coord_format="norm1000", ordering="as_is") == (
        '{"objects": [{"desc": "late", "bbox_2d": [250, 599, 400, 899]}, '
        '{"desc": "tri", "poly": [749, 400, 500, 100, 997, 300]}, '
        '{"desc": "wire", "line": [52, 100, 100, 993]}]}'
    )


def test_coord_token_target_is_pinned():
    rec = parse_record({"images": ["a.png"], "width": 999, "height": 999,
                        "objects": [{"desc": "b", "bbox_2d": [0, 1, 998.4, 999]}]})
    assert render_target(rec, coord_format="coord_tokens") == (
        '{"objects": [{"desc": "b", "bbox_2d": [<|coord_0|>, <|coord_1|>, <|coord_998|>, <|coord_999|>]}]}'
    )


def test_pixel_and_norm1000_targets_are_strict_json():
    for fmt in ("pixel", "norm1000"):
        data = json.loads(render_target(record(), coord_format=fmt))
        assert [list(o) for o in data["objects"]] == [["desc", "line"], ["desc", "poly"], ["desc", "bbox_2d"]]
        assert all(isinstance(v, int) for o in data["objects"] for k, vs in o.items() if k != "desc" for v in vs)


def test_reading_order_is_by_top_left_then_left_and_stable():
    objs = [
        DenseObject("c", "bbox_2d", (50, 10, 60, 20)),
        DenseObject("a", "line", (90, 30, 5, 10)),        # bounds (5, 10): same top as c, further left
        DenseObject("d1", "bbox_2d", (0, 50, 1, 51)),
        DenseObject("b", "poly", (40, 12, 30, 5, 45, 25)),  # top y = 5
        DenseObject("d2", "bbox_2d", (0, 50, 2, 52)),       # ties with d1: stable
    ]
    assert [o.desc for o in order_objects(objs, "reading_order")] == ["b", "a", "c", "d1", "d2"]
    assert [o.desc for o in order_objects(objs, "as_is")] == ["c", "a", "d1", "b", "d2"]
    # points inside an object keep their order
    assert order_objects(objs, "reading_order")[1].coords == (90, 30, 5, 10)
    with pytest.raises(RenderError, match="object ordering must be one of"):
        order_objects(objs, "by_size")


def test_encode_coords_uses_width_for_x_and_height_for_y():
    assert encode_coords([100, 100], "norm1000", 200, 400) == ["500", "250"]
    assert encode_coords([0.5, 1.49], "pixel", 10, 10) == ["1", "1"]
    with pytest.raises(RenderError, match="coord_format must be one of"):
        encode_coords([1, 1], "norm", 10, 10)


def test_desc_is_escaped_and_unicode_kept():
    objs = [DenseObject('say "hi"\n\u7ebf', "line", (0, 0, 1, 1))]
    text = render_dense(objs, 10, 10)
    assert text == '{"objects": [{"desc": "say \\"hi\\"\\n\u7ebf", "line": [0, 0, 1, 1]}]}'
    assert parse_target(text, coord_format="pixel", width=10, height=10)[0].desc == 'say "hi"\n\u7ebf'


def test_summary_mode():
    assert render_target(record(summary="two boxes"), mode="summary") == "two boxes"
    with pytest.raises(RenderError) as exc:
        render_target(record(), mode="summary")
    assert str(exc.value) == ("d/train.jsonl:4: summary mode needs a non-empty 'summary' in every record; "
                              "this record has none")
    with pytest.raises(RenderError, match="target mode must be one of"):
        render_target(record(), mode="caption")


def test_assistant_prefix_from_metadata():
    rec = record(metadata={"domain": "bbu", "task": "dense"}, summary="ok")
    tmpl = "<DOMAIN={domain}>, <TASK={task}>"
    assert prefix_fields(tmpl) == ["domain", "task"]
    text = render_target(rec, prefix=tmpl, coord_format="coord_tokens")
    assert text.startswith("<DOMAIN=bbu>, <TASK=dense>\n{\"objects\": [")
    assert render_target(rec, mode="summary", prefix=tmpl) == "<DOMAIN=bbu>, <TASK=dense>\nok"
    objs = parse_target(text, coord_format="coord_tokens", width=200, height=100,
                        prefix=render_prefix(tmpl, rec.metadata))
    assert [o.desc for o in objs] == ["wire", "tri", "late"]  # both top at y=10: wire is further left
    with pytest.raises(RenderError) as exc:
        render_target(record(metadata={"domain": "bbu"}), prefix=tmpl)
    assert str(exc.value) == ("d/train.jsonl:4: assistant prefix '<DOMAIN={domain}>, <TASK={task}>' needs "
                              "metadata key 'task'; the record's metadata has keys ['domain']")
    with pytest.raises(RenderError, match="needs metadata key 'domain'"):
        render_target(record(), prefix=tmpl)
    with pytest.raises(RenderError, match="fields must be plain metadata keys"):
        render_prefix("<{0}>", {"0": 1})
    with pytest.raises(RenderError, match="bad assistant prefix template"):
        render_prefix("<{domain>", {"domain": 1})


def test_parse_target_is_strict():
    with pytest.raises(CoordJSONError) as exc:
        parse_target(render_target(record())[:-10], coord_format="pixel", width=200, height=100)
    assert exc.value.reason == "truncated"


def _random_record(rng: np.random.Generator) -> Record:
    w, h = int(rng.integers(1, 3000)), int(rng.integers(1, 3000))
    objects = []
    for k in range(int(rng.integers(0, 8))):
        kind = ["bbox_2d", "poly", "line"][int(rng.integers(0, 3))]
        if kind == "bbox_2d":
            xs, ys = np.sort(rng.uniform(0, w, 2)), np.sort(rng.uniform(0, h, 2))
            coords = [xs[0], ys[0], xs[1], ys[1]]
        else:
            n = int(rng.integers(3 if kind == "poly" else 2, 9))
            pts = np.stack([rng.uniform(0, w, n), rng.uniform(0, h, n)], axis=1)
            if rng.random() < 0.2:  # integers and exact borders too
                pts = np.round(pts)
                pts[0] = (0, h)
            coords = pts.ravel()
        objects.append({"desc": f"obj {k}", kind: [float(v) for v in coords]})
    return parse_record({"images": ["x.png"], "width": w, "height": h, "objects": objects})


@pytest.mark.parametrize("coord_format", ["pixel", "norm1000", "coord_tokens"])
def test_render_then_parse_round_trips_within_half_a_bin(coord_format):
    rng = np.random.default_rng({"pixel": 1, "norm1000": 2, "coord_tokens": 3}[coord_format])
    for _ in range(300):
        rec = _random_record(rng)
        ordering = "as_is" if rng.random() < 0.5 else "reading_order"
        text = render_target(rec, coord_format=coord_format, ordering=ordering)
        back = parse_target(text, coord_format=coord_format, width=rec.width, height=rec.height)
        expected = order_objects(rec.objects, ordering)
        assert [(o.desc, o.kind, len(o.coords)) for o in back] == [
            (o.desc, o.kind, len(o.coords)) for o in expected]
        for got, want in zip(back, expected):
            for k, (g, x) in enumerate(zip(got.coords, want.coords)):
                size = rec.width if k % 2 == 0 else rec.height
                tol = 0.5 if coord_format == "pixel" else size / 999 / 2
                assert abs(g - x) <= tol + 1e-9, (coord_format, g, x, size)
        # the salvage entry point agrees with the strict one on well-formed text
        res = parse_prediction(text, coord_format, rec.width, rec.height, "salvage")
        assert res.valid and list(res.objects) == back
