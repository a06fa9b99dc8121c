"""Summary-mode rewards: pure functions of (completion text, ground-truth summary) -> [0, 1].

``summary_format`` -- a usable free-text summary. Starts at 1.0 and subtracts:

    =====================================================================  ======
    empty after stripping chat end tokens (and the expected prefix)        -> 0.0
    special tokens leak into the text (``<|image_pad|>``, ``<|coord_7|>``)    -0.5
    the text is a JSON document / list (dense output where prose belongs)    -0.5
    the expected assistant prefix line is missing                            -0.25
    the rollout was cut by the length limit (``is_truncated``)               -0.25
    degenerate repetition (< 50% distinct word trigrams, >= 8 trigrams)      -0.25
    =====================================================================  ======

    clamped at 0.

``summary_content`` -- multiset token-overlap F1 (SQuAD style) between the summary and the
    ground truth after NFKC + lower case; words are runs of letters/digits, CJK characters
    count one token each. Both empty: 1.0; one empty: 0.0.
"""

from __future__ import annotations

import re
import unicodedata

from src.datasets.coordjson import END_TOKENS
from src.datasets.render import PREFIX_SEPARATOR

from .dense import token_f1

_SPECIAL = re.compile(r"<\|[^<>|\s]{1,64}\|>")
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+", re.UNICODE)


def strip_end_tokens(text: str, end_tokens: tuple[str, ...] = END_TOKENS) -> str:
    """Drop trailing chat end markers (``<|im_end|>``...) and surrounding whitespace."""
    out = text.strip()
    changed = True
    while changed:
        changed = False
        for t in end_tokens:
            if out.endswith(t):
                out, changed = out[: -len(t)].rstrip(), True
    return out


def split_prefix(text: str, prefix: str | None) -> tuple[str, bool]:
    """``(body, prefix_ok)``: the text after the expected prefix line (``prefix + "\\n"``)."""
    if not prefix:
        return text, True
    head = prefix + PREFIX_SEPARATOR
    return (text[len(head):], True) if text.startswith(head) else (text, False)


def summary_tokens(text: str) -> list[str]:
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())


def is_repetitive(tokens: list[str], min_trigrams: int = 8, min_distinct: float = 0.5) -> bool:
    trigrams = list(zip(tokens, tokens[1:], tokens[2:]))
    return len(trigrams) >= min_trigrams and len(set(trigrams)) / len(trigrams) < min_distinct


def summary_format_score(text: str, *, prefix: str | None = None, truncated: bool = False) -> float:
    body, prefix_ok = split_prefix(strip_end_tokens(text), prefix)
    body = body.strip()
    if not body:
        return 0.0
    score = 1.0
    if _SPECIAL.search(body):
        score -= 0.5
    if body[0] in "{[":
        score -= 0.5
    if not prefix_ok:
        score -= 0.25
    if truncated:
        score -= 0.25
    if is_repetitive(summary_tokens(body)):
        score -= 0.25
    return max(0.0, score)


def summary_content_score(text: str, gt_summary: str, *, prefix: str | None = None) -> float:
    body, _ = split_prefix(strip_end_tokens(text), prefix)
    return token_f1(summary_tokens(body), summary_tokens(gt_summary))
