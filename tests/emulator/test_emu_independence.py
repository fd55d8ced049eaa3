"""The import contracts in pyproject.toml hold, and `lint-imports` fails when the emulator imports the client."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_contracts_are_kept() -> None:
    """The repository's own tree keeps every contract."""
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_emulator_import_of_the_client_breaks_the_contract(tmp_path: Path) -> None:
    """A copy of the package whose emulator imports the client's frame codec fails `lint-imports`."""
    shutil.copytree(ROOT / "kkt_adapter", tmp_path / "kkt_adapter", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    planted = tmp_path / "kkt_adapter" / "emulator" / "framing.py"
    planted.write_text(planted.read_text() + "\nfrom kkt_adapter.kkt.protocol.frame import lrc as _client_lrc\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "kkt_adapter.emulator.framing -> kkt_adapter.kkt.protocol.frame" in result.stdout
