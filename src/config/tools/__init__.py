"""Config tools: inspect, diff (with the parity profile), validate and plan resolved configs.

The logic behind `python -m src.config.tools`, `scripts/validate_sft_config.py` and most of
`scripts/config_tools/inspect_config.py` (whose migrate / parity-report live in `src.seed_migration`).
Like the rest of `src.config` it never imports torch, transformers or ms-swift, and it imports
`rich` only when writing to a terminal, so `inspect` answers in a fraction of a second.

Modules: `loading` (resolve + validate without raising for validation problems), `diffing`
(deterministic tree diff), `parity` (the seed-001 allowlist), `validation` (the tree check),
`output` (plain text or rich), `commands` (rendering of each command), `cli` (argparse, exit codes).
"""

from .diffing import ABSENT, Change, diff_trees
from .loading import FusionView, LoadedConfig, LoadError, load_config
from .parity import PARITY_ALLOWLIST, augmentation_disabled, parity_reason

__all__ = [
    "ABSENT",
    "PARITY_ALLOWLIST",
    "Change",
    "FusionView",
    "LoadError",
    "LoadedConfig",
    "augmentation_disabled",
    "diff_trees",
    "load_config",
    "parity_reason",
]
