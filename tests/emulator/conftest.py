"""Fixtures: a started emulator on a real pty in ``tmp_path``, and a raw client on its port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from emu_helpers import RawClient

from kkt_adapter.emulator import Emulator


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    """A running emulator with a fresh state file."""
    with Emulator(tmp_path / "kkt0", tmp_path / "kkt.json") as emulator:
        yield emulator


@pytest.fixture
def raw(emu: Emulator) -> Iterator[RawClient]:
    """A raw byte-level client on the emulator's port."""
    client = RawClient(emu.path)
    yield client
    client.close()
