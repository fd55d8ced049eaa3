"""The buffer side of reconciliation: which receipts of a real SQLite buffer file a window selects, read-only."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from daemon_harness import make_receipt

from kkt_adapter.buffer.records import FiscalRecord
from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.buffer.store import Store
from kkt_adapter.ops.reconcile_scope import Window
from kkt_adapter.ops.reconcile_sources import FnSide, SourceError, read_buffer
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem

FN = "9999078900012345"
OTHER_FN = "9999078900099999"
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


async def _fill(db: Path) -> None:
    """kkt1: FD 2..6 of FN (shift 1: FD 2..3, shift 2: FD 5..6), FD 4 on another FN, one unknown, one
    accepted; kkt2: FD 5 of the same FN number space (another device)."""
    store = await Store.open(db, clock=lambda: NOW)
    receipt = ReceiptIn.model_validate(make_receipt())
    plan = [("a", "kkt1", FN, 2, 1), ("b", "kkt1", FN, 3, 1), ("c", "kkt1", OTHER_FN, 4, 1),
            ("d", "kkt1", FN, 5, 2), ("e", "kkt1", FN, 6, 2), ("f", "kkt2", FN, 7, 2)]  # fmt: skip
    try:
        for key, device, serial, fd, shift in plan:
            await store.insert_receipt(key, receipt, device, TaxSystem.OSN)
            await store.begin_printing(key, fd - 1)
            record = FiscalRecord(fd, 1000 + fd, NOW, shift, fd, serial, "0000000001012345")
            await store.mark_fiscalized(key, record, False, "test")
        await store.insert_receipt("u", receipt, "kkt1", TaxSystem.OSN)
        await store.begin_printing("u", 6)
        await store.mark_unknown("u", "lost the answer")
        await store.insert_receipt("q", receipt, "kkt1", TaxSystem.OSN)
    finally:
        await store.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "buffer.db"
    asyncio.run(_fill(path))
    return path


def side(window: Window, last_fd: int) -> FnSide:
    return FnSide(FN, last_fd, window, (), ())


def test_the_window_selects_the_device_receipts_on_this_fn_and_the_undecided(db: Path) -> None:
    """Shift 2's window (FD 5..6): receipts d and e of kkt1 on this FN, then the unknown one; not kkt2's, not
    the other FN's, not the accepted one."""
    entries = read_buffer(db, "kkt1", side(Window(5, 6, (2,)), 6))
    assert [(e.key, e.state) for e in entries] == [
        ("d", ReceiptState.FISCALIZED),
        ("e", ReceiptState.FISCALIZED),
        ("u", ReceiptState.UNKNOWN),
    ]
    assert entries[0].fd_number == 5
    assert entries[0].fiscal_sign == 1005
    assert entries[0].shift_number == 2
    assert entries[0].operation == 1
    assert entries[0].total_kop == 25_405


def test_a_receipt_of_the_shift_outside_the_fd_range_is_selected(db: Path) -> None:
    """A receipt recorded in a scope shift is selected even when its FD lies outside the window (so that it
    can be reported), as long as its FD is not beyond the FN's last document as read."""
    keys = [e.key for e in read_buffer(db, "kkt1", side(Window(3, 3, (1,)), 6))]
    assert keys == ["a", "b", "u"]


def test_receipts_fiscalized_after_the_fn_was_read_are_left_out(db: Path) -> None:
    """FDs beyond the FN's last FD at the time it was read belong to receipts printed since: not compared."""
    keys = [e.key for e in read_buffer(db, "kkt1", side(Window(5, 5, (2,)), 5))]
    assert keys == ["d", "u"]


def test_the_buffer_file_is_only_read(db: Path) -> None:
    """Reading leaves the file byte for byte as it was."""
    before = db.read_bytes()
    read_buffer(db, "kkt1", side(Window(1, 6, (1, 2)), 6))
    assert db.read_bytes() == before


def test_a_missing_buffer_file_is_a_source_error(tmp_path: Path) -> None:
    """No file at the path: SourceError naming it (nothing is created)."""
    with pytest.raises(SourceError, match="no buffer database"):
        read_buffer(tmp_path / "absent.db", "kkt1", side(Window(1, 1, ()), 1))
    assert not (tmp_path / "absent.db").exists()
