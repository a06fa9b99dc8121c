"""Token-type classifier (desc / coord / structure) over real Qwen tokenizer pieces and by hand."""

from __future__ import annotations

import pytest

from src.datasets.records import DenseObject
from src.datasets.render import render_dense
from src.trainers.telemetry.token_types import PieceCache, TokenType, classify_labels, classify_pieces

D, C, S = TokenType.DESC, TokenType.COORD, TokenType.STRUCTURE
OBJECTS = [
    DenseObject("red box", "bbox_2d", (10, 12, 50, 60)),
    DenseObject('big "blue" triangle', "poly", (100, 100, 150, 100, 120, 150)),
    DenseObject("línea verde", "line", (5, 180, 200, 180)),
]


def test_hand_pieces():
    pieces = ['{"', "objects", '":', ' [{"', "desc", '":', ' "', "orange", " line", '",', ' "', "line", '":',
              " [", "7", "3", ",", " ", "8", "]}", "]}", "<|im_end|>", "\n"]
    types = classify_pieces(pieces)
    assert types == [S, S, S, S, S, S, S, D, D, S, S, S, S, S, C, C, S, S, C, S, S, S, S]


def test_mixed_pieces_take_the_highest_priority_type():
    pieces = ['{"objects": [{"desc": "red', ' box", "bbox_2d": [1', "2, 3", ", 4]}]}"]
    assert classify_pieces(pieces) == [D, D, C, C]


def test_keys_and_non_geometry_numbers_are_structure():
    # a string value of another key, a number outside a geometry array, an escaped quote in desc
    text = '{"objects": [{"desc": "a \\"q\\" 5", "bbox_2d": [1, 2, 3, 4]}], "n": 7, "k": "desc"}'
    types = classify_pieces(list(text))
    desc_chars = "".join(c for c, t in zip(text, types) if t == D)
    coord_chars = "".join(c for c, t in zip(text, types) if t == C)
    assert desc_chars == 'a \\"q\\" 5'
    assert coord_chars == "1234"


def test_coord_tokens_anywhere_are_coord_and_prefix_is_structure():
    pieces = ["<TASK=dense>", "\n", '{"objects": [{"desc": "', "x", '", "line": [', "<|coord_3|>",
              "<|coord_999|>", "]}]}", "<|coord_1|>"]
    assert classify_pieces(pieces) == [S, S, S, D, S, C, C, S, C]


def test_label_runs_restart_the_parser_and_skip_ignored_positions():
    labels = [-100, 1, 2, -100, -100, 3, 2]
    pieces = {1: '{"objects": [{"desc": "a', 2: "b", 3: '{"desc": "'}
    # run 1: '{"objects"...a' (desc), 'b' (still inside the desc string)
    # run 2 restarts: '{"desc": "' (structure), then 'b' is inside a fresh desc string
    assert classify_labels(labels, pieces.__getitem__) == [D, D, S, D]


@pytest.fixture(scope="module")
def tokenizers(tiny_model_dir, tiny_coord_model_dir):
    from transformers import AutoTokenizer

    return {"plain": AutoTokenizer.from_pretrained(tiny_model_dir),
            "coord": AutoTokenizer.from_pretrained(tiny_coord_model_dir)}


@pytest.mark.parametrize("fmt", ["pixel", "norm1000", "coord_tokens"])
def test_real_tokenizer_pieces(fmt, tokenizers):
    tok = tokenizers["coord" if fmt == "coord_tokens" else "plain"]
    text = render_dense(OBJECTS, 256, 192, fmt, ordering="as_is") + "<|im_end|>\n"
    ids = tok.encode(text, add_special_tokens=False)
    piece_of = PieceCache(tok)
    assert "".join(piece_of(i) for i in ids) == text
    types = classify_labels([-100, -100, *ids], piece_of)
    assert len(types) == len(ids)
    by_type = {t: [piece_of(i) for i, ty in zip(ids, types) if ty == t] for t in TokenType}
    def squash(s: str) -> str:
        return s.replace('"', "").replace(" ", "").replace("\\", "")

    assert squash("".join(by_type[D])) == squash("".join(o.desc for o in OBJECTS))
    n_values = sum(len(o.coords) for o in OBJECTS)
    if fmt == "coord_tokens":
        assert len(by_type[C]) == n_values and all(p.startswith("<|coord_") for p in by_type[C])
    else:
        digits = "".join(by_type[C]).replace(" ", "").replace(",", "")
        assert digits.isdigit() and len(digits) >= n_values
    assert tok.decode(ids[-2:]) == "<|im_end|>\n" and types[-2:] == [S, S]
    structure = "".join(by_type[S]).replace("bbox_2d", "")
    assert not any(ch.isdigit() for ch in structure)  # every other digit is a coordinate here
