"""Slither, through the offline compiler, finds no unexplained High or Medium issue."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs Slither over the contracts (about 20 s)

REPO = Path(__file__).resolve().parents[2]


def test_slither_has_no_unexplained_high_or_medium_findings():
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "slither_offline.py")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "High 0" in result.stdout
