"""The lexer and parser under `coordjson`: CoordJSON text -> tokens -> positioned values.

Private to `src.datasets.coordjson` (the one public entry for reading model output). JSON strings
are decoded with the standard library's `scanstring`; `<|coord_k|>` becomes a `Coord`; errors carry
a DROP/DOCUMENT reason and a character position.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from json.decoder import scanstring
from typing import Any

NUM_BINS = 1000
MAX_BIN = NUM_BINS - 1


class Coord(int):
    """A value written as ``<|coord_k|>``; an int subclass so json.dumps writes ``k``."""

    __slots__ = ()


# ---------------------------------------------------------------------------- lexer

@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # { } [ ] : , str num lit coord err eof
    value: Any
    pos: int
    reason: str = ""  # for err: a DROP/DOCUMENT reason; "truncated" only at the end


_WS = " \t\n\r"
_NUM_RUN = re.compile(r"[-+0-9.eE]+")
_NUM = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_NUM_PREFIX = re.compile(r"-?(?:0|[1-9]\d*)?(?:\.\d*)?(?:[eE][+-]?\d*)?")
_WORD = re.compile(r"[A-Za-z_]+")
_LITERALS = {"true": True, "false": False, "null": None}
_COORD = re.compile(r"<\|coord_(\d+)\|>")
_COORD_PREFIX = re.compile(r"<(?:\|(?:c(?:o(?:o(?:r(?:d(?:_(?:\d+\|?)?)?)?)?)?)?)?)?")
_SPECIAL = re.compile(r"<\|[^<>|\s]{1,64}\|>")


def _lex(text: str, start: int = 0) -> list[_Tok]:
    """Tokenize everything from ``start``; errors become ``err`` tokens, the list ends with eof."""
    toks: list[_Tok] = []
    n, i = len(text), start
    while True:
        while i < n and text[i] in _WS:
            i += 1
        if i >= n:
            toks.append(_Tok("eof", None, n))
            return toks
        c = text[i]
        if c in "{}[]:,":
            toks.append(_Tok(c, c, i))
            i += 1
        elif c == '"':
            try:
                s, end = scanstring(text, i + 1, True)
            except json.JSONDecodeError as e:
                if e.msg.startswith("Unterminated string") or '"' not in text[max(e.pos, i + 1):]:
                    toks.append(_Tok("err", "unterminated string", i, "truncated"))
                    toks.append(_Tok("eof", None, n))
                    return toks
                toks.append(_Tok("err", e.msg.lower().removesuffix(" at"), e.pos, "syntax"))
                close = text.find('"', e.pos + 1)
                i = n if close < 0 else close + 1
                continue
            toks.append(_Tok("str", s, i))
            i = end
        elif c == "-" or c.isdigit():
            run = _NUM_RUN.match(text, i).group()
            if _NUM.fullmatch(run):
                value = float(run) if any(ch in run for ch in ".eE") else int(run)
                toks.append(_Tok("num", value, i))
            elif i + len(run) == n and _NUM_PREFIX.fullmatch(run):
                toks.append(_Tok("err", "number cut off", i, "truncated"))
            else:
                toks.append(_Tok("err", f"invalid number {run!r}", i, "syntax"))
            i += len(run)
        elif c == "<":
            m = _COORD.match(text, i)
            if m:
                digits = m.group(1)
                k = int(digits)
                if k <= MAX_BIN and str(k) == digits:
                    toks.append(_Tok("coord", Coord(k), i))
                else:
                    toks.append(_Tok("err", f"coordinate token {m.group()} is not in "
                                     f"<|coord_0|>..<|coord_{MAX_BIN}|>", i, "bad_coord_token"))
                i = m.end()
                continue
            m = _COORD_PREFIX.match(text, i)
            if m and m.end() == n:
                toks.append(_Tok("err", "coordinate token cut off", i, "truncated"))
                i = n
                continue
            if m and m.group().startswith("<|coord_") and not _SPECIAL.match(text, i):
                toks.append(_Tok("err", f"malformed coordinate token {m.group()!r}", i, "bad_coord_token"))
                i = m.end()
                continue
            m = _SPECIAL.match(text, i)
            if m:
                reason = "bad_coord_token" if m.group().startswith("<|coord") else "syntax"
                toks.append(_Tok("err", f"unexpected token {m.group()}", i, reason))
                i = m.end()
            else:
                toks.append(_Tok("err", "unexpected character '<'", i, "syntax"))
                i += 1
        else:
            m = _WORD.match(text, i)
            word = m.group() if m else c
            if word in _LITERALS:
                toks.append(_Tok("lit", _LITERALS[word], i))
            elif m and i + len(word) == n and any(lit.startswith(word) for lit in _LITERALS):
                toks.append(_Tok("err", "literal cut off", i, "truncated"))
            else:
                toks.append(_Tok("err", f"unexpected {word!r}", i, "syntax"))
            i += len(word)


# ---------------------------------------------------------------------------- parser

class _Fail(Exception):
    def __init__(self, reason: str, message: str, pos: int):
        super().__init__(message)
        self.reason, self.message, self.pos = reason, message, pos


class _Obj(list):
    """A parsed JSON object as its (key, value) pairs, in order, with the start position."""

    pos: int = 0


class _Arr(list):
    pos: int = 0
    positions: list[int]


def _fail_at(tok: _Tok, expected: str) -> _Fail:
    if tok.kind == "eof":
        return _Fail("truncated", f"text ends where {expected} was expected", tok.pos)
    if tok.kind == "err":
        return _Fail(tok.reason, tok.value, tok.pos)
    return _Fail("syntax", f"expected {expected}, got {tok.value!r}", tok.pos)


class _Parser:
    def __init__(self, toks: list[_Tok]):
        self.toks, self.i = toks, 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def expect(self, kind: str, what: str) -> _Tok:
        tok = self.tok
        if tok.kind != kind:
            raise _fail_at(tok, what)
        self.i += 1
        return tok

    def value(self) -> Any:
        tok = self.tok
        if tok.kind == "{":
            return self.obj()
        if tok.kind == "[":
            return self.arr()
        if tok.kind in ("str", "num", "lit", "coord"):
            self.i += 1
            return tok.value
        raise _fail_at(tok, "a value")

    def obj(self) -> _Obj:
        out = _Obj()
        out.pos = self.expect("{", "'{'").pos
        if self.tok.kind == "}":
            self.i += 1
            return out
        while True:
            key = self.expect("str", "a string key").value
            self.expect(":", "':'")
            out.append((key, self.value()))
            sep = self.tok
            if sep.kind == "}":
                self.i += 1
                return out
            self.expect(",", "',' or '}'")

    def arr(self) -> _Arr:
        out = _Arr()
        out.pos = self.expect("[", "'['").pos
        out.positions = []
        if self.tok.kind == "]":
            self.i += 1
            return out
        while True:
            out.positions.append(self.tok.pos)
            out.append(self.value())
            nxt = self.tok
            if nxt.kind == "]":
                self.i += 1
                return out
            if nxt.kind == "coord" and isinstance(out[-1], Coord):
                continue  # comma optional between two coordinate tokens
            self.expect(",", "',' or ']'")


# ---------------------------------------------------------------------------- object checks
