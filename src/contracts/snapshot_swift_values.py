"""Generate `src/config/swift_values.json`: the value sets the pinned ms-swift / transformers accept
for arguments whose dataclass type is a plain `str` (so `swift_fields.json` has no choices for them).

Run `python -m src.contracts.snapshot_swift_values` after changing the ms-swift or transformers pin
and commit the result; `tests/config/test_value_rules.py` regenerates it from the installed
packages and fails when the two disagree. Imports ms-swift (and so torch) only inside
`build_snapshot()`; the config package reads the committed JSON (src/config/value_rules.py).

- `tuner_type`: ms-swift's `get_supported_tuners()` (built-in tuners and the registered plugins);
- `attn_impl`: transformers' attention registry, plus `eager` and ms-swift's alias `flash_attn`;
- `report_to`: transformers' reporting integrations, plus `all` and `none`;
- `deepspeed_presets`: the ZeRO preset names ms-swift resolves to its bundled JSON files.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .snapshot_io import dumps, snapshot_main

__all__ = ["SNAPSHOT_PATH", "build_snapshot", "dumps", "main"]  # dumps: the contract test compares with it

SNAPSHOT_PATH = Path(__file__).resolve().parents[1] / "config" / "swift_values.json"


def build_snapshot() -> dict[str, Any]:
    import swift
    import transformers
    from swift.arguments.base_args.base_args import get_supported_tuners
    from swift.version import __version__
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    config_dir = Path(swift.__file__).parent / "config"
    presets = sorted(p.stem for p in config_dir.glob("zero*.json"))
    return {
        "ms_swift_version": __version__,
        "transformers_version": transformers.__version__,
        "generated_by": "python -m src.contracts.snapshot_swift_values",
        "tuner_type": sorted(get_supported_tuners()),
        "attn_impl": sorted(set(ALL_ATTENTION_FUNCTIONS.valid_keys()) | {"eager", "flash_attn"}),
        "report_to": sorted(set(INTEGRATION_TO_CALLBACK) | {"all", "none"}),
        "deepspeed_presets": presets,
    }


def main(argv: list[str] | None = None) -> int:
    return snapshot_main(__doc__, build_snapshot, SNAPSHOT_PATH, argv)


if __name__ == "__main__":
    sys.exit(main())
