"""`python -m src.config.tools {inspect,diff,validate} ...` (same as scripts/config_tools/inspect_config.py)."""

import sys

from .cli import main

sys.exit(main(prog="python -m src.config.tools"))
