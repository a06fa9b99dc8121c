"""Tokenizers of the offline tiny models (built on first use by the root fixtures)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def coord_tokenizer(tiny_coord_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_coord_model_dir))


@pytest.fixture(scope="session")
def plain_tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))
