"""Malformed / edge-case CoordJSON corpus and the observation recorded for each (golden diagnostics)."""

from __future__ import annotations

from src.datasets.coordjson import CoordJSONError, parse_prediction, transpile

C = "<|coord_{}|>".format
BOX = f'{{"desc": "cat", "bbox_2d": [{C(1)}, {C(2)}, {C(30)}, {C(40)}]}}'
NUMBOX = '{"desc": "cat", "bbox_2d": [1, 2, 30, 40]}'
CORPUS: list[tuple[str, str]] = [  # (text, coords)
    (f'{{"objects": [{BOX}]}}', "tokens"),
    (f'{{"objects": [{BOX}, {BOX}]}}', "tokens"),
    (f'{{"objects": [{BOX}, {{"desc": "l", "line": [{C(1)}, {C(2)}, {C(3)}, {C(4)}]}}]}}', "tokens"),
    (f'{{"objects": [{{"desc": "p", "poly": [{C(1)}, {C(2)}, {C(3)}, {C(4)}, {C(5)}, {C(6)}]}}]}}', "tokens"),
    (f'{{"objects": [{{"desc": "p", "poly": [{C(1)}, {C(2)}, {C(3)}, {C(4)}]}}]}}', "tokens"),
    (f'{{"objects": [{{"desc": "l", "line": [{C(1)}, {C(2)}, {C(3)}]}}]}}', "tokens"),
    (f'{{"objects": [{{"desc": "b", "bbox_2d": [{C(1)}, {C(2)}, {C(3)}]}}]}}', "tokens"),
    (f'{{"objects": [{{"desc": "b", "bbox_2d": [{C(1)}, {C(2)}, {C(3)}, {C(4)}], "poly": []}}]}}', "tokens"),
    (f'{{"objects": [{{"bbox_2d": [{C(1)}, {C(2)}, {C(3)}, {C(4)}]}}]}}', "tokens"),
    (f'{{"objects": [{{"desc": 5, "bbox_2d": [{C(1)}, {C(2)}, {C(3)}, {C(4)}]}}]}}', "tokens"),
    (f'{{"objects": [{{"desc": "x", "desc": "y", "bbox_2d": [{C(1)}, {C(2)}, {C(3)}, {C(4)}]}}]}}', "tokens"),
    ('{"objects": [{"desc": "b", "bbox_2d": [1, 2, 3, 4]}]}', "tokens"),
    (f'{{"objects": [{{"desc": "b", "bbox_2d": [{C(1)}, {C(2)}, {C(3)}, {C(1000)}]}}]}}', "tokens"),
    (f'{{"objects": [{{"desc": "b", "bbox_2d": [{C(1)}, <|coord_x|>, {C(3)}, {C(4)}]}}]}}', "tokens"),
    (f'{{"objects": [{{"desc": "b", "bbox_2d": [{C(1)}, {C(2)}, {C(3)}, {C(4)}], "extra": 1}}]}}', "tokens"),
    (f'{{"objects": [{BOX}, ]}}', "tokens"),
    (f'{{"objects": [{BOX}]}} trailing', "tokens"),
    (f'{{"objects": [{BOX}]', "tokens"),
    (f'{{"objects": [{BOX}, {{"desc": "tr', "tokens"),
    (f'{{"objects": [{BOX}, {{"desc": "dog", "bbox_2d": [{C(5)}, {C(6)}', "tokens"),
    (f'{{"objects": [{BOX}, {{"desc": "dog", "bbox_2d": [{C(5)}, <|coord_', "tokens"),
    (f'{{"objects": [{BOX}, {{"desc": "dog"', "tokens"),
    (f'{{"objects": [{BOX}, {{', "tokens"),
    (f'{{"objects": [{BOX}, {{"desc": "bad \\q escape", "bbox_2d": [{C(1)}, {C(2)}, {C(3)}, {C(4)}]}}]}}', "tokens"),
    (f'{{"objects": [{BOX} {BOX}]}}', "tokens"),
    (f'{{"objects": [{BOX}, true, {BOX}]}}', "tokens"),
    (f'{{"objects": [{BOX}, [1, 2], {BOX}]}}', "tokens"),
    (f'{{"objects": [{BOX}, {{"desc": "n", "bbox_2d": [{C(1)}, {C(2)}, {C(3)}, {C(4)}], "z": [1, {{"a": null}}]}}]}}',
     "tokens"),
    ('{"objects": []}', "tokens"),
    ('{"objects": {}}', "tokens"),
    ('{"items": []}', "tokens"),
    ("[]", "tokens"),
    ("", "tokens"),
    ("   ", "tokens"),
    ("not json", "tokens"),
    ('{"objects": [', "tokens"),
    ('{"objects": [{"desc": "q", "bbox_2d": [1e, 2, 3, 4]}]}', "numbers"),
    ('{"objects": [{"desc": "q", "bbox_2d": [-1, 2.5, 3, 4]}]}', "numbers"),
    (f'{{"objects": [{NUMBOX}, {NUMBOX}]}}', "numbers"),
    (f'{{"objects": [{NUMBOX}, {{"desc": "q", "bbox_2d": [1, 2, 3, 4', "numbers"),
    (f'{{"objects": [{NUMBOX}, {{"desc": "q", "bbox_2d": [1, 2, 3, 4.', "numbers"),
    (f'{{"objects": [{NUMBOX}, {{"desc": "q", "bbox_2d": [1, 2, NaN, 4]}}]}}', "numbers"),
    (f'{{"objects": [{NUMBOX}, {{"desc": "q", "bbox_2d": [1, 2, {C(3)}, 4]}}]}}', "numbers"),
    (f'{{"objects": [{NUMBOX}, {{"desc": "q", "bbox_2d": [1, 2, "3", 4]}}]}}', "numbers"),
    (f'{{"objects": [{NUMBOX}, {{"desc": "q", "bbox_2d": [1, 2, true, 4]}}]}}', "numbers"),
    (f'{{"objects": [{NUMBOX}, {{"desc": "q", "bbox_2d": [1, 2, 3, 4]}}, {{"desc": "\u00e9t\u00e9", "line": [1, 2, 3, 4]}}]}}',
     "numbers"),
    ('{"objects": [{"desc": "q", "bbox_2d": [1, 2, 3, 4]}]}\n\n{"objects": []}', "numbers"),
    ('{"objects": [\n  {"desc": "q",\n   "bbox_2d": [1, 2, 3, x]}\n]}', "numbers"),
    # pixel bounds on a non-square 100 x 50 image: x is checked against the width, y against the height
    ('{"objects": [{"desc": "edge", "bbox_2d": [0, 0, 100, 50]}]}', "numbers"),
    ('{"objects": [{"desc": "tall", "bbox_2d": [0, 0, 60, 60]}]}', "numbers"),
    ('{"objects": [{"desc": "wide", "bbox_2d": [0, 0, 101, 10]}]}', "numbers"),
    ('{"objects": [{"desc": "ok", "line": [99, 49, 0, 1]}, {"desc": "y", "poly": [1, 1, 2, 51, 3, 1]}]}', "numbers"),
    ('{"objects": [{"desc": "neg", "line": [1, 1, -0.5, 2]}, {"desc": "f", "bbox_2d": [1.5, 2, 3, 4]}]}', "numbers"),
    # lexer corners: raw control characters, escapes, stray '<', special tokens, cut-off literals, exponents
    (f'{{"objects": [{BOX}, {{"desc": "tab\there", "bbox_2d": [{C(1)}, {C(2)}, {C(3)}, {C(4)}]}}, {BOX}]}}', "tokens"),
    (f'{{"objects": [{BOX}, {{"desc": "bad \\q', "tokens"),
    (f'{{"objects": [{{"desc": "bad \\q", "bbox_2d": [{C(1)}, {C(2)}, {C(3)}, {C(4)}]}}, {BOX}, {BOX}]}}', "tokens"),
    (f'{{"objects": [{BOX}, {{"desc": "b", "bbox_2d": [<, {C(2)}, {C(3)}, {C(4)}]}}, {BOX}]}}', "tokens"),
    (f'{{"objects": [{BOX}, {{"desc": "b", "bbox_2d": [<|box_start|>, {C(2)}, {C(3)}, {C(4)}]}}, {BOX}]}}', "tokens"),
    (f'{{"objects": [{BOX}, {{"desc": "b", "bbox_2d": [<|coord_12, {C(2)}, {C(3)}, {C(4)}]}}, {BOX}]}}', "tokens"),
    (f'{{"objects": [{BOX}, {{"desc": "b", "bbox_2d": [{C(1)}, {C(2)}, {C(3)}, {C(4)}], "z": tr', "tokens"),
    (f'{{"objects": [{BOX}, {{"desc": "b", "bbox_2d": [{C(1)}, {C(2)}, {C(3)}, {C(4)}], "z": nul', "tokens"),
    (f'{{"objects": [{BOX}, {{"desc": "b", "bbox_2d": [{C(1)}, {C(2)}, {C(3)}, {C(4)}], "z": tru}}, {BOX}]}}', "tokens"),
    (f'{{"objects": [{BOX}, {{"desc": "b", "bbox_2d": [{C(1)}, {C(2)}, {C(3)}, {C(4)}], "z": nothing}}]}}', "tokens"),
    ('{"objects": [{"desc": "q", "bbox_2d": [1e0, 2E0, 3.0, 4e+1]}]}', "numbers"),
    ('{"objects": [{"desc": "q", "bbox_2d": [1, 2, 3, 4]}, {"desc": "r", "bbox_2d": [1, 2, 3, -', "numbers"),
    ('{"objects": [{"desc": "q", "bbox_2d": [1, 2, 3, 4]}, {"desc": "r", "bbox_2d": [1, 2, 3, 0x4]}]}', "numbers"),
    (f'  {{"objects": [{BOX}]}}', "tokens"),
    (f'{{"objects": [{BOX}, {{"desc" "dog", "bbox_2d": [{C(1)}, {C(2)}, {C(3)}, {C(4)}]}}, {BOX}]}}', "tokens"),
    (f'{{"objects" [{BOX}]}}', "tokens"),
    (f'{{"objects": {BOX}}}', "tokens"),
    # salvage recovery: a bad element start, junk between elements, a truncated non-object element
    (f'{{"objects": [{BOX}, <|box_start|>, {BOX}]}}', "tokens"),
    (f'{{"objects": [{BOX} <|box_start|> {BOX}]}}', "tokens"),
    (f'{{"objects": [{BOX} x, {BOX}]}}', "tokens"),
    (f'{{"objects": [{BOX} x]}}', "tokens"),
    (f'{{"objects": [{BOX} x {BOX}', "tokens"),
    (f'{{"objects": [{BOX}, [{C(1)}, {C(2)}', "tokens"),
    (f'{{"objects": [{BOX}, tr', "tokens"),
]


def _err(e: CoordJSONError | None):
    return None if e is None else [e.reason, e.message, e.pos, e.line, e.col, str(e)]


def observe(text: str, coords: str) -> dict:
    out: dict = {}
    try:
        r = transpile(text, "strict", coords)
        out["strict"] = [r.json_text, list(r.positions), sorted(r.dropped.items()), r.complete]
    except CoordJSONError as e:
        out["strict"] = _err(e)
    r = transpile(text, "salvage", coords)
    out["salvage"] = [r.json_text, list(r.positions), sorted(r.dropped.items()), r.complete, _err(r.error)]
    fmt = "coord_tokens" if coords == "tokens" else "norm1000"
    p = parse_prediction(text, fmt, 640, 480, "salvage")
    out["parse"] = _parse(p)
    other = "pixel" if coords == "numbers" else "coord_tokens"
    for mode in ("strict", "salvage"):
        out[f"{other}_100x50_{mode}"] = _parse(parse_prediction(text, other, 100, 50, mode))
        out[f"prefix_ok_{mode}"] = _parse(parse_prediction("PFX: a\n" + text + " <|im_end|>\n<|endoftext|> ", fmt,
                                                           640, 480, mode, prefix="PFX: a\n"))
        out[f"prefix_bad_{mode}"] = _parse(parse_prediction("QFX: a\n" + text, fmt, 640, 480, mode,
                                                            prefix="PFX: a\n"))
    return out


def _parse(p) -> list:
    return [[[o.desc, o.kind, [round(c, 6) for c in o.coords]] for o in p.objects],
            sorted(p.dropped.items()), p.valid, _err(p.error)]
