"""Fixtures: a raw client on the port of the emulator (``emu``, tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emu_helpers import RawClient

from kkt_adapter.emulator import Emulator


@pytest.fixture
def raw(emu: Emulator) -> Iterator[RawClient]:
    """A raw byte-level client on the emulator's port."""
    client = RawClient(emu.path)
    yield client
    client.close()
