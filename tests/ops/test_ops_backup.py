"""Online backup of a real buffer file under write load, and verification that catches damage."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

from kkt_adapter.buffer.backup import BackupResult, create_backup, sha256_file, verify_backup
from kkt_adapter.buffer.db import open_buffer
from kkt_adapter.buffer.events import verify_chain
from kkt_adapter.buffer.store import Store
from kkt_adapter.ops import cli_backup, cli_verify
from kkt_adapter.ops.backup_job import nightly_backup
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem

PREFILL = 3000
RECEIPT = ReceiptIn.model_validate(
    {
        "operation": "sell",
        "items": [{"name": "Хлеб", "price_kop": 5_990, "quantity": "2", "amount_kop": 11_980, "vat": "vat10"}],
        "payments": [{"type": "cash", "amount_kop": 11_980}],
        "total_kop": 11_980,
    }
)


async def _fill_and_back_up(db: Path, out: Path) -> tuple[BackupResult, int, int]:
    """Prefill the buffer, keep inserting while a backup runs; return the backup and counts around it."""
    store = await Store.open(db)
    receipt = RECEIPT
    await asyncio.gather(*(store.insert_receipt(f"pre-{i}", receipt, "kkt1", TaxSystem.OSN) for i in range(PREFILL)))
    inserted = 0
    stop = asyncio.Event()
    going = asyncio.Event()

    async def load() -> None:
        nonlocal inserted
        while not stop.is_set():
            await store.insert_receipt(f"live-{inserted}", receipt, "kkt1", TaxSystem.OSN)
            inserted += 1
            if inserted >= 20:
                going.set()

    task = asyncio.create_task(load())
    try:
        await asyncio.wait_for(going.wait(), 30)
        before = inserted
        result = await asyncio.to_thread(create_backup, db, out)
        after = inserted
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await store.close()
    return result, before, after


@pytest.fixture(scope="module")
def backup_under_load(tmp_path_factory: pytest.TempPathFactory) -> tuple[BackupResult, int, int]:
    """One backup taken while receipts flow (shared by the tests below, which copy it before damaging)."""
    base = tmp_path_factory.mktemp("backup")
    return asyncio.run(_fill_and_back_up(base / "buffer.db", base / "backups"))


def _copy_pair(result: BackupResult, tmp_path: Path) -> Path:
    db = tmp_path / result.path.name
    db.write_bytes(result.path.read_bytes())
    (tmp_path / result.manifest_path.name).write_bytes(result.manifest_path.read_bytes())
    return db


def test_backup_under_write_load_is_consistent_and_verifies(backup_under_load: tuple[BackupResult, int, int]) -> None:
    """A backup taken while receipts are inserted holds a consistent snapshot and passes every check."""
    result, before, after = backup_under_load
    assert after > before, "receipts must have been committed while the backup ran"
    total = result.manifest["receipts_total"]
    assert PREFILL + before <= total <= PREFILL + after
    assert result.manifest["counts_by_state"] == {"accepted": total}
    assert result.manifest["events_total"] >= total
    assert len(result.manifest["sample"]) == 64
    report = verify_backup(result.path)
    assert report.ok, report.checks
    assert [c.name for c in report.checks] == [
        "checksum", "integrity", "schema", "counts", "events head", "sample", "audit chain", "anchored head",
    ]  # fmt: skip
    assert not list(result.path.parent.glob("*.tmp"))


def test_flipped_bytes_fail_with_a_clear_verdict(
    backup_under_load: tuple[BackupResult, int, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bytes flipped in the middle of the file fail the checksum; the CLI says BAD and exits 1."""
    db = _copy_pair(backup_under_load[0], tmp_path)
    data = bytearray(db.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    db.write_bytes(bytes(data))
    assert cli_verify.main([str(db)]) == 1
    out = capsys.readouterr().out
    assert "FAIL checksum: SHA-256" in out
    assert "VERDICT: the backup is BAD (checksum" in out


def test_deleted_row_with_a_forged_checksum_fails_the_counts(
    backup_under_load: tuple[BackupResult, int, int], tmp_path: Path
) -> None:
    """A receipt removed and the manifest's checksum forged to match is still caught by counts and chain."""
    db = _copy_pair(backup_under_load[0], tmp_path)
    sample_key = backup_under_load[0].manifest["sample"][0]["key"]
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM receipts WHERE key = ?", (sample_key,))
        conn.execute("DELETE FROM events WHERE seq = 5")
    conn.close()
    manifest_path = db.with_name(db.name + ".manifest.json")
    manifest = json.loads(manifest_path.read_text())
    manifest["sha256"] = sha256_file(db)
    manifest_path.write_text(json.dumps(manifest))
    report = verify_backup(manifest_path)
    failed = {c.name for c in report.checks if not c.ok}
    assert failed == {"counts", "sample", "audit chain"}


def test_truncated_backup_fails_integrity(backup_under_load: tuple[BackupResult, int, int], tmp_path: Path) -> None:
    """A backup cut short (a copy interrupted half-way) fails the integrity check with SQLite's reason."""
    db = _copy_pair(backup_under_load[0], tmp_path)
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])
    checks = {c.name: c for c in verify_backup(db).checks}
    assert checks["checksum"].ok is False
    assert checks["integrity"].ok is False
    assert checks["integrity"].detail


def test_missing_manifest_is_reported(backup_under_load: tuple[BackupResult, int, int], tmp_path: Path) -> None:
    """A backup without its manifest cannot be verified and says which file is missing."""
    db = tmp_path / "lonely.db"
    db.write_bytes(backup_under_load[0].path.read_bytes())
    report = verify_backup(db)
    assert report.ok is False
    assert report.checks[0].name == "manifest"
    assert "lonely.db.manifest.json" in report.checks[0].detail


def test_cli_backup_then_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``kkt-adapter backup --db --out`` writes a pair that ``verify-backup`` calls GOOD (exit 0)."""

    async def fill() -> None:
        store = await Store.open(tmp_path / "buffer.db")
        receipt = RECEIPT
        await store.insert_receipt("one", receipt, "kkt1", TaxSystem.OSN)
        await store.close()

    asyncio.run(fill())
    assert cli_backup.main(["--db", str(tmp_path / "buffer.db"), "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "backup OK" in out
    assert "receipts: 1 (accepted 1)" in out
    (backup,) = (tmp_path / "b").glob("*.db")
    assert cli_verify.main([str(backup)]) == 0
    assert "VERDICT: the backup is GOOD" in capsys.readouterr().out


def test_cli_backup_of_a_missing_buffer_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Backing up a database that does not exist exits 1 and creates nothing."""
    assert cli_backup.main(["--db", str(tmp_path / "absent.db"), "--out", str(tmp_path / "b")]) == 1
    assert "backup FAILED: no buffer database" in capsys.readouterr().err
    assert not (tmp_path / "absent.db").exists()


def test_nightly_job_records_backup_and_verify_in_the_audit_chain(tmp_path: Path) -> None:
    """The in-daemon job backs up, verifies, prunes to ``keep`` and appends both results to the audit log."""

    async def run() -> tuple[bool, list[str], bool]:
        store = await Store.open(tmp_path / "buffer.db")
        try:
            await store.insert_receipt("one", RECEIPT, "kkt1", TaxSystem.OSN)
            reports = [await nightly_backup(store, tmp_path / "buffer.db", tmp_path / "b", keep=2) for _ in range(3)]
            actions = [e.reason for e in await store.audit_events(limit=10)]
        finally:
            await store.close()
        with sqlite3.connect(tmp_path / "buffer.db") as conn:
            chain_ok = verify_chain(conn).ok
        conn.close()
        return all(r.ok for r in reports), actions, chain_ok

    ok, actions, chain_ok = asyncio.run(run())
    assert ok
    assert actions.count("backup.verify") == 3
    assert actions.count("backup.create") == 3
    assert chain_ok
    assert len(list((tmp_path / "b").glob("*.db"))) == 2
    assert len(list((tmp_path / "b").glob("*.manifest.json"))) == 2


def test_a_backup_removes_temporary_files_left_by_a_cut_backup(tmp_path: Path) -> None:
    """Temporary files of a backup cut short an hour ago are removed by the next backup; a fresh one stays."""
    db, out = tmp_path / "buffer.db", tmp_path / "backups"
    out.mkdir()
    stale = [
        out / "kkt-adapter-20260101T000000000000Z.db.tmp",
        out / "kkt-adapter-20260101T000000000000Z.db.tmp-journal",
    ]
    stale.append(out / "kkt-adapter-20260101T000000000000Z.db.manifest.json.tmp")
    fresh = out / "kkt-adapter-20991231T000000000000Z.db.tmp"
    for path in [*stale, fresh]:
        path.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    for path in stale:
        os.utime(path, (two_hours_ago, two_hours_ago))
    open_buffer(db).close()
    create_backup(db, out)
    assert not [p for p in stale if p.exists()]
    assert fresh.exists()
