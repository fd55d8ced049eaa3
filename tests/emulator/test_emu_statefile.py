"""The incremental state file writes exactly what ``state_to_json`` writes, whatever changed in between."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from emu_helpers import T0

from kkt_adapter.emulator.state import (
    DeviceConfig,
    FnDocument,
    OpenReceipt,
    ReceiptLine,
    load_state,
    new_state,
    state_to_json,
)
from kkt_adapter.emulator.statefile import StateFile


def _doc(number: int) -> FnDocument:
    return FnDocument(number, 3, T0 + timedelta(minutes=number), 1000 + number, 1, 1, 500 * number)


def test_encoding_matches_state_to_json_through_appends_edits_and_truncation(tmp_path: Path) -> None:
    """Appending documents, setting a ticket, editing an old entry, an open receipt and a shorter archive all
    encode to the very bytes of ``state_to_json``."""
    state = new_state(DeviceConfig(), T0)
    file = StateFile(tmp_path / "s.json", fsync=False)
    assert file.encode(state) == state_to_json(state)
    for number in range(1, 6):
        state.documents.append(_doc(number))
        assert file.encode(state) == state_to_json(state)
    state.documents[1].ticket_at = T0 + timedelta(hours=1)
    state.receipt = OpenReceipt(0, [ReceiptLine("Хлеб", 1_000_000, 4550, 4550, 1)])
    assert file.encode(state) == state_to_json(state)
    state.documents[3].sum_kop = 1
    assert file.encode(state) == state_to_json(state)
    del state.documents[2:]
    assert file.encode(state) == state_to_json(state)
    state.documents.append(_doc(9))
    assert file.encode(state) == state_to_json(state)


def test_saved_file_loads_back_equal(tmp_path: Path) -> None:
    """A saved state (with and without fsync) loads back equal to the one saved, and no temp file is left."""
    state = new_state(DeviceConfig(), datetime(2026, 3, 1, 9, 30))
    state.documents += [_doc(1), _doc(2)]
    for fsync in (True, False):
        path = tmp_path / f"s-{fsync}.json"
        StateFile(path, fsync=fsync).save(state)
        assert load_state(path) == state
    assert not list(tmp_path.glob("*.tmp"))
