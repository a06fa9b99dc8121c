"""Channel-B targets at token level, pinned token by token on the real tiny-model tokenizers.

Case (pixel == bin, W = H = 999): rollout = [ghost (FP), cat (matched to GT 0)];
GT = [cat, wire (line), dog]; missed GT injected in reading order: dog, then wire.
Labels: ``"="`` = supervised towards the token itself, ``None`` = -100, else the label token.
"""

from __future__ import annotations

import random

import pytest
from stage2_cases import GTS, MATCH, PREDS, H, W

from src.datasets.records import DenseObject
from src.datasets.render import encode_coords, render_dense
from src.stage2.matching import MatchPair, MatchResult, match_objects
from src.stage2.target_tokens import IGNORE_INDEX, tokenize_target
from src.stage2.targets import build_channel_b_target


def decode_labels(labels, positions, tokenizer) -> list[str]:
    """The label tokens at ``positions`` as strings."""
    return [tokenizer.convert_ids_to_tokens(int(labels[p])) for p in positions]


def _table(tokens, tokenizer):
    rows = []
    for a, label in zip(tokens.input_ids, tokens.labels):
        tok = tokenizer.convert_ids_to_tokens(a).replace("\u0120", " ")
        rows.append((tok, None if label == IGNORE_INDEX else "=" if label == a
                     else tokenizer.convert_ids_to_tokens(label)))
    return rows


def _coords(values, label):
    """A coordinate list ``v1, v2, ...`` as (token, label) rows; ``label(v)`` gives each value's label."""
    rows = []
    for k, v in enumerate(values):
        if k:
            rows += [(",", label(None)), (" ", label(None))]
        rows.append((v, label(v)))
    return rows


HEADER = [('{"', "="), ("objects", "="), ('":', "=")]
BBOX_KEY = [(' "', "="), ("bbox", "="), ("_", "="), ("2", "="), ("d", "="), ('":', "="), (" [", "=")]


def _no_loss(rows):
    return [(t, None) for t, _ in rows]


EXPECTED_COORD_TOKENS = [
    *HEADER,
    # FP "ghost": kept in context, no loss anywhere, not even on " [{" that it shares with the header
    (' [{"', None), ("desc", None), ('":', None), (' "', None), ("ghost", None), ('",', None),
    *_no_loss(BBOX_KEY),
    *_coords(["<|coord_500|>", "<|coord_500|>", "<|coord_600|>", "<|coord_600|>"], lambda v: None),
    ("]},", None),                           # FP close + separator: FP-neutral wins
    # matched "cat": ' {"' (separator + open) supervised; desc / key no loss; coordinates retargeted
    (' {"', "="), ("desc", None), ('":', None), (' "', None), ("cat", None), ('",', None),
    *_no_loss(BBOX_KEY),
    ("<|coord_12|>", "<|coord_10|>"), (",", "="), (" ", "="), ("<|coord_11|>", "<|coord_10|>"),
    (",", "="), (" ", "="), ("<|coord_98|>", "<|coord_100|>"), (",", "="), (" ", "="),
    ("<|coord_99|>", "<|coord_100|>"),
    ("]},", "="),                             # matched close + separator before an FN: supervised
    # FN "dog" (GT 2) injected, fully supervised
    (' {"', "="), ("desc", "="), ('":', "="), (' "', "="), ("dog", "="), ('",', "="), *BBOX_KEY,
    *_coords(["<|coord_200|>", "<|coord_50|>", "<|coord_300|>", "<|coord_150|>"], lambda v: "="),
    ("]},", "="),
    # FN "wire" (GT 1), a line
    (' {"', "="), ("desc", "="), ('":', "="), (' "', "="), ("wire", "="), ('",', "="), (' "', "="),
    ("line", "="), ('":', "="), (" [", "="),
    *_coords(["<|coord_300|>", "<|coord_800|>", "<|coord_900|>", "<|coord_800|>"], lambda v: "="),
    ("]}", "="),
    # closure supervision
    ("]}", "="), ("<|im_end|>", "="),
]


def _digits(*values):
    return [list(str(v)) for v in values]


def _number_rows(values, label):
    rows = []
    for k, digits in enumerate(_digits(*values)):
        if k:
            rows += [(",", label), (" ", label)]
        rows += [(d, label) for d in digits]
    return rows


EXPECTED_NORM1000 = [
    *HEADER,
    (' [{"', None), ("desc", None), ('":', None), (' "', None), ("ghost", None), ('",', None),
    *_no_loss(BBOX_KEY), *_number_rows([500, 500, 600, 600], None), ("]},", None),
    # matched "cat": teacher-forced on the GT geometry (10, 10, 100, 100) written in its slot
    (' {"', "="), ("desc", None), ('":', None), (' "', None), ("cat", None), ('",', None),
    *_no_loss(BBOX_KEY), *_number_rows([10, 10, 100, 100], "="), ("]},", "="),
    (' {"', "="), ("desc", "="), ('":', "="), (' "', "="), ("dog", "="), ('",', "="), *BBOX_KEY,
    *_number_rows([200, 50, 300, 150], "="), ("]},", "="),
    (' {"', "="), ("desc", "="), ('":', "="), (' "', "="), ("wire", "="), ('",', "="), (' "', "="),
    ("line", "="), ('":', "="), (" [", "="), *_number_rows([300, 800, 900, 800], "="), ("]}", "="),
    ("]}", "="), ("<|im_end|>", "="),
]


def test_pinned_coord_tokens(coord_tokenizer):
    target = build_channel_b_target(PREDS, GTS, MATCH, width=W, height=H, coord_format="coord_tokens")
    tokens = tokenize_target(target, coord_tokenizer)
    assert _table(tokens, coord_tokenizer) == EXPECTED_COORD_TOKENS
    spans = [(o.kind, o.token_span) for o in tokens.objects]
    assert spans == [("fp", (3, 27)), ("matched", (27, 51)), ("fn", (51, 75)), ("fn", (75, 96))]
    assert tokens.closure_positions == (96, 97)
    fp, matched, fn_dog, _ = tokens.objects
    assert fp.loss_positions == ()
    assert matched.loss_positions == (27, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50)
    assert fn_dog.loss_positions == tuple(range(51, 75))
    # coordinates never reordered: the GT's coordinates, in order, at the matched coordinate positions,
    # while the context keeps the prediction's own coordinates, in order
    assert matched.coord_positions == (40, 43, 46, 49)
    assert decode_labels(tokens.labels, matched.coord_positions, coord_tokenizer) == encode_coords(
        GTS[0].coords, "coord_tokens", W, H)
    assert decode_labels(tokens.input_ids, matched.coord_positions, coord_tokenizer) == encode_coords(
        PREDS[1].coords, "coord_tokens", W, H)
    assert coord_tokenizer.decode(list(tokens.input_ids)) == target.text
    assert tokens.token_types()[40] == "coord" and tokens.token_types()[31] == "desc"


def test_pinned_norm1000(plain_tokenizer):
    target = build_channel_b_target(PREDS, GTS, MATCH, width=W, height=H, coord_format="norm1000")
    tokens = tokenize_target(target, plain_tokenizer)
    assert _table(tokens, plain_tokenizer) == EXPECTED_NORM1000
    matched = tokens.objects[1]
    assert matched.kind == "matched"
    digits = decode_labels(tokens.labels, matched.coord_positions, plain_tokenizer)
    assert digits == [d for v in (10, 10, 100, 100) for d in str(v)]  # GT digits, in order
    assert tokens.objects[0].loss_positions == ()


def test_last_object_matched_supervises_its_close_then_closure(coord_tokenizer):
    preds, gts = [PREDS[1]], [GTS[0]]
    target = build_channel_b_target(preds, gts, match_objects(preds, gts), width=W, height=H,
                                    coord_format="coord_tokens")
    rows = _table(tokenize_target(target, coord_tokenizer), coord_tokenizer)
    assert rows[3] == (' [{"', "=")  # header + matched open: supervised (no FP character)
    assert rows[-3:] == [("]}", "="), ("]}", "="), ("<|im_end|>", "=")]


def test_matched_then_trailing_fp(coord_tokenizer):
    preds, gts = [PREDS[1], PREDS[0]], [GTS[0]]
    target = build_channel_b_target(preds, gts, match_objects(preds, gts), width=W, height=H,
                                    coord_format="coord_tokens")
    tokens = tokenize_target(target, coord_tokenizer)
    rows = _table(tokens, coord_tokenizer)
    matched, fp = tokens.objects
    assert rows[matched.token_span[1] - 1] == ("]},", None)  # the separator before an FP is FP-neutral
    assert fp.loss_positions == ()
    assert rows[-2:] == [("]}", "="), ("<|im_end|>", "=")]


def test_closure_supervision_off(coord_tokenizer):
    target = build_channel_b_target(PREDS, GTS, MATCH, width=W, height=H, coord_format="coord_tokens",
                                    closure_supervision=False)
    tokens = tokenize_target(target, coord_tokenizer)
    assert [tokens.labels[t] for t in tokens.closure_positions] == [IGNORE_INDEX, IGNORE_INDEX]


@pytest.mark.parametrize("fmt", ["coord_tokens", "norm1000"])
def test_invalid_rollout_equals_channel_a_encoding(fmt, coord_tokenizer, plain_tokenizer):
    tok = coord_tokenizer if fmt == "coord_tokens" else plain_tokenizer
    target = build_channel_b_target(PREDS, GTS, MATCH, width=256, height=192, coord_format=fmt,
                                    rollout_invalid=True)
    tokens = tokenize_target(target, tok)
    channel_a = tok.encode(render_dense(GTS, 256, 192, fmt) + "<|im_end|>", add_special_tokens=False)
    assert list(tokens.input_ids) == channel_a == list(tokens.labels)


def test_retarget_needs_coordinate_tokens_in_the_vocabulary(plain_tokenizer):
    target = build_channel_b_target(PREDS, GTS, MATCH, width=W, height=H, coord_format="coord_tokens")
    with pytest.raises(ValueError, match="one token per coordinate"):
        tokenize_target(target, plain_tokenizer)


def _random_case(rng, fmt):
    def obj():
        kind = rng.choice(["bbox_2d", "bbox_2d", "poly", "line"])
        x, y = rng.randint(0, 900), rng.randint(0, 900)
        if kind == "bbox_2d":
            return DenseObject(rng.choice(["a", "car", "红色"]), kind, (x, y, x + rng.randint(5, 90), y + 40))
        n = 2 if kind == "line" else rng.randint(3, 5)
        pts = [v for k in range(n) for v in (x + 10 * k, y + rng.randint(0, 30) + (k % 2) * 7)]
        return DenseObject("thing", kind, tuple(pts))

    gts = [obj() for _ in range(rng.randint(0, 6))]
    preds = [obj() for _ in range(rng.randint(0, 6))]
    for g in gts[: rng.randint(0, len(gts))]:  # near-copies: some matches
        preds.insert(rng.randint(0, len(preds)), DenseObject(g.desc, g.kind, tuple(v + rng.choice([0, 1])
                                                                                     for v in g.coords)))
    return preds, gts


@pytest.mark.parametrize("fmt", ["coord_tokens", "norm1000"])
@pytest.mark.parametrize("seed", range(12))
def test_invariants_on_random_cases(seed, fmt, coord_tokenizer, plain_tokenizer):
    tok = coord_tokenizer if fmt == "coord_tokens" else plain_tokenizer
    rng = random.Random(seed)
    preds, gts = _random_case(rng, fmt)
    match = match_objects(preds, gts, iou_threshold=0.5)
    target = build_channel_b_target(preds, gts, match, width=W, height=H, coord_format=fmt)
    tokens = tokenize_target(target, tok)
    assert tok.decode(list(tokens.input_ids)) == target.text
    assert len(tokens.input_ids) == len(tokens.labels) == len(tokens.token_roles)
    for obj, info in zip(tokens.objects, target.objects):
        span = range(*obj.token_span)
        if obj.kind == "fp":
            assert all(tokens.labels[t] == IGNORE_INDEX for t in span)
        elif obj.kind == "fn":
            assert obj.loss_positions == tuple(span)
        else:
            gt_coords = [tok.convert_tokens_to_ids(t) for t in tok.tokenize(" ".join(info.coord_labels))
                         if t.strip("\u0120")]
            assert [tokens.labels[t] for t in obj.coord_positions] == gt_coords
    assert all(tokens.labels[t] != IGNORE_INDEX for t in tokens.closure_positions)
    fn_gt = [o.gt_index for o in tokens.objects if o.kind == "fn"]
    assert sorted(fn_gt) == list(match.unmatched_gts)


def test_single_token_labels_map_directly():
    """A toy tokenizer without BPE merges: every piece boundary is a token boundary."""

    class CharTokenizer:
        def __call__(self, text, **kwargs):
            return {"input_ids": [ord(c) for c in text], "offset_mapping": [(i, i + 1) for i in range(len(text))]}

        def encode(self, text, add_special_tokens=False):
            return [ord(c) for c in text]

    preds, gts = [DenseObject("a", "bbox_2d", (1, 1, 5, 5))], [DenseObject("a", "bbox_2d", (1, 1, 6, 5))]
    match = MatchResult((MatchPair(0, 0, 0.8),), (), ())
    target = build_channel_b_target(preds, gts, match, width=9, height=9, coord_format="pixel", end_of_turn=None)
    tokens = tokenize_target(target, CharTokenizer())
    text = target.text
    supervised = "".join(c if lab != IGNORE_INDEX else "_" for c, lab in zip(text, tokens.labels))
    assert text == '{"objects": [{"desc": "a", "bbox_2d": [1, 1, 6, 5]}]}'
    assert supervised == '{"objects": [__________________________1, 1, 6, 5]}]}'


class PieceTokenizer:
    """A fake fast tokenizer: one token per character, one per ``<|coord_N|>``; knobs to misbehave."""

    COORD = __import__("re").compile(r"<\|coord_\d+\|>")

    def __init__(self, *, split_coords=False, zero_width_at=None, drop_last_offset=False, gap_at=None,
                 bos=False, multi_token_labels=False):
        self.split_coords, self.zero_width_at, self.drop_last_offset = split_coords, zero_width_at, drop_last_offset
        self.gap_at, self.bos, self.multi_token_labels = gap_at, bos, multi_token_labels

    def _pieces(self, text):
        out, i = [], 0
        while i < len(text):
            m = self.COORD.match(text, i)
            if m and self.split_coords:
                mid = (m.start() + m.end()) // 2
                out += [(hash(text[i:mid]) % 1000 + 300000, i, mid), (hash(text[mid:m.end()]) % 1000 + 301000,
                                                                      mid, m.end())]
                i = m.end()
            elif m:
                out.append((200000 + int(text[i + 8: m.end() - 2]), i, m.end()))
                i = m.end()
            else:
                out.append((ord(text[i]), i, i + 1))
                i += 1
        if self.zero_width_at is not None:
            at = self.zero_width_at if self.zero_width_at >= 0 else len(text)
            k = next((j for j, (_, a, _) in enumerate(out) if a >= at), len(out))
            out.insert(k, (7, at, at))
        if self.gap_at is not None:
            out = [p for p in out if p[1] != self.gap_at]
        return out

    def __call__(self, text, add_special_tokens=True, return_offsets_mapping=False):
        pieces = self._pieces(text)
        ids = [p[0] for p in pieces]
        offsets = [(a, b) for _, a, b in pieces]
        if add_special_tokens and self.bos:
            ids, offsets = [1, *ids], [(0, 0), *offsets]
        if self.drop_last_offset:
            offsets = offsets[:-1]
        return {"input_ids": ids, "offset_mapping": offsets}

    def encode(self, text, add_special_tokens=True):
        ids = [p[0] for p in self._pieces(text)]
        if self.multi_token_labels and self.COORD.fullmatch(text):
            ids = [ord(c) for c in text]
        return [1, *ids] if add_special_tokens and self.bos else ids


def _small_target(coord_format="coord_tokens"):
    preds = [DenseObject("a", "bbox_2d", (1, 1, 5, 5))]
    gts = [DenseObject("a", "bbox_2d", (1, 1, 6, 5))]
    match = MatchResult((MatchPair(0, 0, 0.8),), (), ())
    return build_channel_b_target(preds, gts, match, width=9, height=9, coord_format=coord_format, end_of_turn=None)


def test_fake_tokenizer_retargets_matched_coordinates():
    tokens = tokenize_target(_small_target(), PieceTokenizer())
    matched = tokens.objects[0]
    assert (matched.kind, matched.pred_index, matched.gt_index) == ("matched", 0, 0)
    def bins(coords):
        return [int(t[8:-2]) for t in encode_coords(coords, "coord_tokens", 9, 9)]

    assert [tokens.labels[t] - 200000 for t in matched.coord_positions] == bins((1, 1, 6, 5))  # the GT's
    assert [tokens.input_ids[t] - 200000 for t in matched.coord_positions] == bins((1, 1, 5, 5))  # in context
    assert bins((1, 1, 6, 5)) != bins((1, 1, 5, 5))


def test_special_tokens_are_never_added_to_the_assistant_turn():
    target = _small_target()
    assert tokenize_target(target, PieceTokenizer(bos=True)).input_ids == tokenize_target(target, PieceTokenizer()).input_ids


def test_a_coordinate_split_over_two_tokens_is_refused():
    with pytest.raises(ValueError, match=r"token \d+ '<\|coor' at chars \d+\.\.\d+ does not cover exactly the "
                                         r"coordinate '<\|coord_111\|>'"):
        tokenize_target(_small_target(), PieceTokenizer(split_coords=True))


def test_a_multi_token_retarget_label_is_refused():
    with pytest.raises(ValueError, match=r"retarget label '<\|coord_111\|>' is 13 tokens, not one: the tokenizer "
                                         r"lacks the coordinate tokens"):
        tokenize_target(_small_target(), PieceTokenizer(multi_token_labels=True))


def test_offsets_must_match_the_ids_and_cover_every_character():
    with pytest.raises(ValueError, match=r"tokenizer returned (\d+) ids but (\d+) offsets"):
        tokenize_target(_small_target(), PieceTokenizer(drop_last_offset=True))
    with pytest.raises(ValueError, match=r"""offsets leave character 2 \('o'\) of the target uncovered; a fast """
                                         r"tokenizer with exact offsets is required"):
        tokenize_target(_small_target(), PieceTokenizer(gap_at=2))


@pytest.mark.parametrize("at", [0, 5, -1])
def test_zero_width_tokens_take_the_label_rule_of_the_character_they_sit_on(at):
    target = _small_target("pixel")
    plain = tokenize_target(target, PieceTokenizer())
    tokens = tokenize_target(target, PieceTokenizer(zero_width_at=at))
    k = len(target.text) if at == -1 else at
    token = k if at != -1 else len(tokens.input_ids) - 1
    assert tokens.input_ids[token] == 7 and len(tokens.labels) == len(plain.labels) + 1
    neighbour = min(k, len(target.text) - 1)  # the character it sits on (the last one at the very end)
    assert (tokens.labels[token] == IGNORE_INDEX) == (plain.labels[neighbour] == IGNORE_INDEX)
    assert tokens.token_roles[token] == plain.token_roles[neighbour]
    others = [lab for t, lab in enumerate(tokens.labels) if t != token]
    assert others == list(plain.labels)
