"""The 2D sin-cos position code of the tiny "pos" variant, and the opt-in TinySpec fields."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

import torch

from src.models.pos_code import sincos_grid
from src.models.tiny_qwen3_vl import BUILDER_VERSION, OPT_IN_DEFAULTS, TinySpec, build_tiny_model


def test_grid_rows_have_the_patch_embedding_norm_and_tell_every_cell_apart():
    grid = sincos_grid(48, 64)
    assert grid.shape == (48 * 48, 64)
    assert torch.allclose(grid.norm(dim=1), torch.full((48 * 48,), 32 ** 0.5))
    dist = torch.cdist(grid, grid)
    assert dist[~torch.eye(48 * 48, dtype=torch.bool)].min() > 0.05  # no two cells share a code
    assert (grid[0] - grid[47]).norm() > 1.0  # the two ends of a row differ (no full turn)
    assert torch.equal(grid[48 * 3 + 5, 32:], grid[5, 32:])  # x half depends on the column only


def test_default_spec_keeps_the_version_1_fingerprint():
    fields = {k: v for k, v in asdict(TinySpec()).items() if k not in OPT_IN_DEFAULTS}
    payload = json.dumps({"builder": BUILDER_VERSION, **fields}, sort_keys=True)
    assert TinySpec().fingerprint() == hashlib.sha256(payload.encode()).hexdigest()[:16]
    assert TinySpec(pos_code="sincos").fingerprint() != TinySpec().fingerprint()


def test_sincos_variant_writes_the_code_into_pos_embed(tmp_path):
    from safetensors.torch import load_file

    out = build_tiny_model(tmp_path / "pos", TinySpec(pos_code="sincos"))
    weights = load_file(out / "model.safetensors")
    key = next(k for k in weights if k.endswith("visual.pos_embed.weight"))
    assert torch.equal(weights[key], sincos_grid(48, 64))
