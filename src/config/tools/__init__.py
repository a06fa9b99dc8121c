"""Config tools: inspect, diff, validate and plan resolved configs.

The logic behind `python -m src.config.tools`, `scripts/validate_sft_config.py` and most of
`scripts/config_tools/inspect_config.py` (whose migrate / parity-report and the parity profile of
`diff` live in `src.seed_migration`, added through `cli.Extension`).
Like the rest of `src.config` it never imports torch, transformers or ms-swift, and it imports
`rich` only when writing to a terminal, so `inspect` answers in a fraction of a second.

Modules: `loading` (resolve + validate without raising for validation problems), `diffing`
(deterministic tree diff), `validation` (the tree check),
`output` (plain text or rich), `commands` (rendering of each command), `cli` (argparse, exit codes).
"""

from .diffing import ABSENT, Change, diff_trees
from .loading import FusionView, LoadedConfig, LoadError, load_config

__all__ = [
    "ABSENT",
    "Change",
    "FusionView",
    "LoadError",
    "LoadedConfig",
    "diff_trees",
    "load_config",
]
