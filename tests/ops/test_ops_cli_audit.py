"""``kkt-adapter audit verify`` on a real buffer file: intact chain, tampered row, deleted row."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from kkt_adapter.buffer.store import Store
from kkt_adapter.ops import cli_audit
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem

RECEIPT = ReceiptIn.model_validate(
    {
        "operation": "sell",
        "items": [{"name": "Хлеб", "price_kop": 5_990, "quantity": "2", "amount_kop": 11_980, "vat": "vat10"}],
        "payments": [{"type": "cash", "amount_kop": 11_980}],
        "total_kop": 11_980,
    }
)


@pytest.fixture
def buffer_db(tmp_path: Path) -> Path:
    """A buffer with a few receipts and an audited action, closed."""

    async def fill() -> None:
        store = await Store.open(tmp_path / "buffer.db")
        try:
            for i in range(4):
                await store.insert_receipt(f"k{i}", RECEIPT, "kkt1", TaxSystem.OSN)
            await store.audit("dlq.replay", "admin", {"count": 0})
        finally:
            await store.close()

    asyncio.run(fill())
    return tmp_path / "buffer.db"


def _execute(db: Path, sql: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(sql)
    conn.close()


def test_intact_chain_verifies(buffer_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An untouched event log is reported OK with its number of events; exit 0."""
    assert cli_audit.main(["verify", "--db", str(buffer_db)]) == 0
    assert capsys.readouterr().out.startswith("audit chain OK: 5 events")


def test_edited_row_is_named(buffer_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An event whose content was edited is named as the first broken link; exit 1."""
    _execute(buffer_db, "UPDATE events SET actor = 'mallory' WHERE seq = 3")
    assert cli_audit.main(["verify", "--db", str(buffer_db)]) == 1
    assert "BROKEN at event 3: row content does not match its hash" in capsys.readouterr().out


def test_deleted_row_breaks_the_next_link(buffer_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A deleted event breaks the link of the one after it; exit 1."""
    _execute(buffer_db, "DELETE FROM events WHERE seq = 2")
    assert cli_audit.main(["verify", "--db", str(buffer_db)]) == 1
    assert "BROKEN at event 3: link to the previous row is broken" in capsys.readouterr().out


def test_missing_database_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A path with no database exits 2 and creates nothing."""
    assert cli_audit.main(["verify", "--db", str(tmp_path / "absent.db")]) == 2
    assert "no buffer database" in capsys.readouterr().err
    assert not (tmp_path / "absent.db").exists()
