"""Shared fixtures of the audit suite (tests/audit)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def coord_tokenizer(tiny_coord_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_coord_model_dir))
