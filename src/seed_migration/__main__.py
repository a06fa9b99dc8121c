"""`python -m src.seed_migration {migrate,parity-report,inspect,diff,validate,plan} ...` (= inspect_config.py)."""

import sys

from .cli import main

sys.exit(main(prog="python -m src.seed_migration"))
