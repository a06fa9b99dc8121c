"""Classify supervised (label) tokens of a dense-JSON answer as desc / coord / structure.

Pure functions over decoded token pieces. A small character-level state machine walks the
answer text (JSON, CoordJSON, or anything else, tolerantly) and types every character:

* ``desc``: characters inside the string value of a ``"desc"`` key (not the quotes);
* ``coord``: number characters (digits, ``-``, ``.``, ``e``, ``+``) inside a geometry array
  (the value of ``bbox_2d`` / ``poly`` / ``line``, nested arrays included), and every
  ``<|coord_k|>`` token wherever it appears;
* ``structure``: everything else (braces, brackets, keys, quotes, commas, whitespace, an
  assistant prefix line, ``<|im_end|>``, free text outside JSON).

A token takes the highest-priority type among its characters (desc > coord > structure), so
a BPE piece such as ``"red`` counts as desc and ``[7`` as coord. Each maximal run of label
tokens (an assistant turn) is classified from a fresh state.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from src.constants import GEOMETRY_KEYS, IGNORE_INDEX


class TokenType(IntEnum):
    DESC = 0
    COORD = 1
    STRUCTURE = 2


TOKEN_TYPE_NAMES: tuple[str, ...] = tuple(t.name.lower() for t in TokenType)
COORD_TOKEN = re.compile(r"<\|coord_\d+\|>")
_NUMBER_CHARS = frozenset("0123456789-.eE+")
_OBJ, _ARR = "obj", "arr"


@dataclass
class _Frame:
    kind: str
    geometry: bool = False       # arrays: inside a geometry value
    expecting_key: bool = True   # objects: the next string is a key
    key: str | None = None       # objects: the last key read


@dataclass
class _State:
    stack: list[_Frame] = field(default_factory=list)
    in_string: bool = False
    escape: bool = False
    string_role: str = "other"   # key | desc | other
    key_chars: list[str] = field(default_factory=list)

    def top(self) -> _Frame | None:
        return self.stack[-1] if self.stack else None


def _string_char(st: _State, c: str) -> TokenType:
    role_type = TokenType.DESC if st.string_role == "desc" else TokenType.STRUCTURE
    if st.escape:
        st.escape = False
    elif c == "\\":
        st.escape = True
    elif c == '"':
        st.in_string = False
        if st.string_role == "key" and (top := st.top()) is not None:
            top.key = "".join(st.key_chars)
        return TokenType.STRUCTURE
    if st.string_role == "key":
        st.key_chars.append(c)
    return role_type


def _char_type(st: _State, c: str) -> TokenType:
    if st.in_string:
        return _string_char(st, c)
    top = st.top()
    if c == '"':
        st.in_string, st.escape = True, False
        if top is not None and top.kind == _OBJ and top.expecting_key:
            st.string_role, st.key_chars = "key", []
        elif top is not None and top.kind == _OBJ and top.key == "desc":
            st.string_role = "desc"
        else:
            st.string_role = "other"
    elif c == "{":
        st.stack.append(_Frame(_OBJ))
    elif c == "[":
        geometry = top is not None and (
            (top.kind == _OBJ and top.key in GEOMETRY_KEYS and not top.expecting_key)
            or (top.kind == _ARR and top.geometry))
        st.stack.append(_Frame(_ARR, geometry=geometry))
    elif c in "}]":
        if top is not None and top.kind == (_OBJ if c == "}" else _ARR):
            st.stack.pop()
    elif c == ":" and top is not None and top.kind == _OBJ:
        top.expecting_key = False
    elif c == "," and top is not None and top.kind == _OBJ:
        top.expecting_key, top.key = True, None
    elif c in _NUMBER_CHARS and top is not None and top.kind == _ARR and top.geometry:
        return TokenType.COORD
    return TokenType.STRUCTURE


def classify_pieces(pieces: Sequence[str]) -> list[TokenType]:
    """Token types of consecutive decoded pieces of one answer (fresh parser state)."""
    st = _State()
    out = []
    for piece in pieces:
        best = TokenType.STRUCTURE
        for c in piece:
            best = min(best, _char_type(st, c))
        if COORD_TOKEN.fullmatch(piece):
            best = TokenType.COORD
        out.append(best)
    return out


def classify_labels(labels: Sequence[int], piece_of: Callable[[int], str]) -> list[TokenType]:
    """Types of the supervised tokens of ``labels`` (entries != -100), in order.

    Each maximal run of supervised tokens is an answer classified from a fresh state.
    ``piece_of(token_id)`` returns the decoded text of one token.
    """
    out: list[TokenType] = []
    run: list[str] = []
    for t in labels:
        if t == IGNORE_INDEX:
            if run:
                out.extend(classify_pieces(run))
                run = []
        else:
            run.append(piece_of(int(t)))
    if run:
        out.extend(classify_pieces(run))
    return out


class PieceCache:
    """``token id -> decoded text`` with a per-process cache (the tokenizer decodes one id)."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self._cache: dict[int, str] = {}

    def __call__(self, token_id: int) -> str:
        piece = self._cache.get(token_id)
        if piece is None:
            piece = self.tokenizer.decode([token_id], skip_special_tokens=False,
                                          clean_up_tokenization_spaces=False)
            self._cache[token_id] = piece
        return piece

    def __getstate__(self) -> dict:
        return {"tokenizer": self.tokenizer, "_cache": {}}
