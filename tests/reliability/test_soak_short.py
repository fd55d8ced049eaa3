"""The short soak in CI: ``scripts/soak`` for about a minute and a half under every fault lane must exit 0."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[2] / "scripts" / "soak"
BUDGET_S = 150


@pytest.mark.slow  # selectable with -m "not slow" locally; scripts/test (CI) runs every test
@pytest.mark.timeout(BUDGET_S + 30)
def test_the_short_soak_holds_every_invariant(tmp_path: Path) -> None:
    """1.2 minutes, 400 receipts, daemon kills, device and OFD faults: every invariant holds (exit 0)."""
    args = ["--minutes", "1.2", "--receipts", "400", "--kill-every-s", "15", "--settle-s", "40", "--dir", str(tmp_path)]
    result = subprocess.run(
        [sys.executable, str(SOAK), *args], capture_output=True, text=True, timeout=BUDGET_S, check=False
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "0 violations" in result.stdout
    kills = re.search(r"daemon SIGKILLs\s+(\d+)", result.stdout)
    assert kills is not None
    assert int(kills.group(1)) >= 3
