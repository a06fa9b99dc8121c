"""Offline synthetic chat-format data (text-only `messages` records) for the chat-member smoke runs.

Deterministic from a seed: arithmetic and shape questions with their answers, one conversation per
line (`{"messages": [system?, user, assistant]}`), written atomically to `<out>/{train,val}.jsonl`.
`python -m src.datasets.synthetic_chat --out artifacts/data/synthetic_chat` (`make artifacts`).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from src.datasets.synthetic import generator_parser, log_progress

logger = logging.getLogger(__name__)
SIDES = {"triangle": 3, "rectangle": 4, "quadrilateral": 4, "pentagon": 5, "hexagon": 6}
SYSTEM = "You answer briefly and exactly."


def conversation(rng: np.random.Generator) -> dict:
    if rng.random() < 0.5:
        a, b = (int(v) for v in rng.integers(1, 100, size=2))
        question, answer = f"What is {a} + {b}?", f"{a + b}"
    else:
        shape = str(rng.choice(sorted(SIDES)))
        question, answer = f"How many sides does a {shape} have?", f"A {shape} has {SIDES[shape]} sides."
    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    if rng.random() < 0.5:
        messages.insert(0, {"role": "system", "content": SYSTEM})
    return {"messages": messages}


def generate_chat(out: str | os.PathLike, n_train: int = 32, n_val: int = 8, seed: int = 0) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        text = "".join(json.dumps(conversation(rng), ensure_ascii=False) + "\n" for _ in range(n))
        tmp = out / f".{split}.jsonl.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out / f"{split}.jsonl")
    logger.info("wrote %d train + %d val conversations to %s", n_train, n_val, out)
    return out


def main(argv: list[str] | None = None) -> int:
    args = generator_parser("Generate the synthetic chat-format (text-only) dataset.", 32, 8).parse_args(argv)
    log_progress()
    generate_chat(args.out, args.train, args.val, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
