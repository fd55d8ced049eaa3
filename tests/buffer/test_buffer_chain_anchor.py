"""The audit chain's head anchored beside the database: a cut tail is found, start-up checks it cheaply,
backups carry it, and an audited restart acknowledges exactly one break."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kkt_adapter.buffer import writer as writer_module
from kkt_adapter.buffer.anchor import Anchor, AnchorFile, decode, encode, head_path, read_anchor
from kkt_adapter.buffer.backup import create_backup, verify_backup
from kkt_adapter.buffer.store import Store
from kkt_adapter.buffer.writer import ANCHOR_SYNC_S
from kkt_adapter.daemon.lock import hold_pid_lock, pid_path, release_pid_lock
from kkt_adapter.ops import cli_audit, cli_backup
from kkt_adapter.ops.checks_store import check_buffer
from kkt_adapter.ops.metrics import Metrics
from kkt_adapter.ops.problem import DEFAULT_LIMITS, Severity
from kkt_adapter.ops.snapshot import Snapshot
from kkt_adapter.ops.snapshot_cache import read_buffer
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem

RECEIPT = ReceiptIn.model_validate(
    {
        "operation": "sell",
        "items": [{"name": "Хлеб", "price_kop": 5_990, "quantity": "2", "amount_kop": 11_980, "vat": "vat10"}],
        "payments": [{"type": "cash", "amount_kop": 11_980}],
        "total_kop": 11_980,
    }
)
TOKEN = "admin-secret-for-tests"


async def _fill(db: Path, count: int, prefix: str = "k") -> None:
    store = await Store.open(db)
    try:
        for i in range(count):
            await store.insert_receipt(f"{prefix}{i}", RECEIPT, "kkt1", TaxSystem.OSN)
    finally:
        await store.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A closed buffer with six events."""
    path = tmp_path / "buffer.db"
    asyncio.run(_fill(path, 6))
    return path


def _execute(db: Path, sql: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(sql)
    conn.close()


def test_the_head_record_follows_every_commit(db: Path) -> None:
    """After the writer closes, the record beside the database names the table's newest event and hash."""
    with sqlite3.connect(db) as conn:
        seq, digest = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    conn.close()
    assert read_anchor(head_path(db)) == Anchor(seq, digest)


def _sync_times(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record when the head record is synced (the real ``fdatasync`` still runs)."""
    times: list[float] = []
    real = AnchorFile.sync

    def sync(self: AnchorFile) -> None:
        real(self)
        times.append(time.monotonic())

    monkeypatch.setattr(AnchorFile, "sync", sync)
    return times


def _newest(db: Path) -> Anchor:
    with sqlite3.connect(db) as conn:
        seq, digest = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    conn.close()
    return Anchor(seq, digest)


def test_the_head_is_written_before_the_caller_is_told_and_synced_soon_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller told "stored" finds the record naming its commit; the record is synced, once, within
    ``ANCHOR_SYNC_S`` while the writer is idle."""
    synced = _sync_times(monkeypatch)
    path = tmp_path / "buffer.db"

    async def one() -> None:
        store = await Store.open(path)
        try:
            await store.insert_receipt("k0", RECEIPT, "kkt1", TaxSystem.OSN)
            told = time.monotonic()
            assert read_anchor(head_path(path)) == _newest(path)
            await asyncio.sleep(ANCHOR_SYNC_S + 0.5)
            assert len(synced) == 1
            assert told < synced[0] <= told + ANCHOR_SYNC_S + 0.2
        finally:
            await store.close()

    asyncio.run(one())


def test_under_steady_writes_the_head_is_synced_every_interval_not_every_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One receipt after another for a second: the record follows every commit and is synced at least
    every ``ANCHOR_SYNC_S`` (here 0.1 s), far fewer times than there were commits; closing syncs the last."""
    monkeypatch.setattr(writer_module, "ANCHOR_SYNC_S", 0.1)
    synced = _sync_times(monkeypatch)
    path = tmp_path / "buffer.db"

    async def steady() -> int:
        store = await Store.open(path)
        try:
            commits, started = 0, time.monotonic()
            while time.monotonic() - started < 1.0 and commits < 5000:
                await store.insert_receipt(f"k{commits}", RECEIPT, "kkt1", TaxSystem.OSN)
                commits += 1
                assert read_anchor(head_path(path)) == _newest(path)
            gaps = [b - a for a, b in itertools.pairwise([started, *synced])]
            assert max(gaps) <= 0.1 + 0.15, gaps
            return commits
        finally:
            await store.close()

    commits = asyncio.run(steady())
    assert 5 <= len(synced) < commits / 2
    assert read_anchor(head_path(path)) == _newest(path)


def test_a_torn_slot_falls_back_to_the_other_older_one() -> None:
    """A slot whose bytes were torn is ignored: the anchor lags (seq 6), it never claims a wrong head."""
    good, newer = encode(Anchor(6, "a" * 64)), bytearray(encode(Anchor(7, "b" * 64)))
    newer[40:50] = b"\0" * 10
    assert decode(bytes(newer)) is None
    assert decode(good) == Anchor(6, "a" * 64)


def test_audit_verify_reports_rows_cut_from_the_end(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Deleting the newest events leaves a valid chain, but verify names the cut tail; exit 1."""
    _execute(db, "DELETE FROM events WHERE seq > 3")
    assert cli_audit.main(["verify", "--db", str(db)]) == 1
    assert "BROKEN at event 6: events cut from the end: the anchored head is event 6, the log ends at 3" in (
        capsys.readouterr().out
    )


def test_a_backup_of_a_cut_log_does_not_verify(db: Path, tmp_path: Path) -> None:
    """The manifest carries the anchored head; a backup of a log cut afterwards names the missing head."""
    _execute(db, "DELETE FROM events WHERE seq > 4")
    result = create_backup(db, tmp_path / "backups")
    assert result.manifest["chain_anchor"]["seq"] == 6
    report = verify_backup(result.path)
    assert [c.name for c in report.checks if not c.ok] == ["anchored head"]


def test_start_up_turns_an_edited_event_into_a_red_problem(db: Path) -> None:
    """A daemon opening a buffer with an edited event reports a critical problem naming the event."""
    _execute(db, "UPDATE events SET actor = 'mallory' WHERE seq = 2")

    async def look() -> Snapshot:
        store = await Store.open(db)
        try:
            buffer = await read_buffer(store, db, 100)
        finally:
            await store.close()
        return Snapshot(datetime.now(UTC), 0.0, buffer, (), workers={})

    snap = asyncio.run(look())
    problems = [p for p in check_buffer(snap, snap.taken_at, DEFAULT_LIMITS) if p.code == "audit_chain_broken"]
    assert [p.severity for p in problems] == [Severity.CRITICAL]
    assert "event 2" in problems[0].message_ru


def test_start_up_walks_only_the_events_since_its_last_check(db: Path) -> None:
    """The second start verifies only the events written after the first one."""

    async def open_and_count(extra: int) -> int:
        store = await Store.open(db)
        try:
            checked = store.chain_verdict.checked
            for i in range(extra):
                await store.insert_receipt(f"later{i}-{checked}", RECEIPT, "kkt1", TaxSystem.OSN)
        finally:
            await store.close()
        return checked

    first = asyncio.run(open_and_count(2))
    second = asyncio.run(open_and_count(0))
    assert (first, second) == (6, 2)


def test_metrics_expose_the_head_sequence(db: Path) -> None:
    """``kkt_audit_chain_head_seq`` reads the anchored head's sequence number."""

    async def look() -> Snapshot:
        store = await Store.open(db)
        try:
            return Snapshot(datetime.now(UTC), 0.0, await read_buffer(store, db, 100), (), workers={})
        finally:
            await store.close()

    snap = asyncio.run(look())
    metrics = Metrics()
    metrics.update_from_snapshot(snap, snap.taken_at)
    assert b"kkt_audit_chain_head_seq 6.0" in metrics.render()


def test_backup_reports_what_verify_backup_would(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With an edited event, ``backup`` does not say OK: it prints the verdict and the way out; exit 1."""
    _execute(db, "UPDATE events SET reason = 'forged' WHERE seq = 3")
    assert cli_backup.main(["--db", str(db), "--out", str(tmp_path / "b")]) == 1
    out = capsys.readouterr().out
    assert "backup OK" not in out
    assert "audit chain of the database it copies is broken" in out
    assert "audit restart" in out


def test_an_admin_restart_acknowledges_exactly_the_break(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Restart at the first break: evidence kept, a signed admin event, and the chain verifies again."""
    monkeypatch.setenv("KKT_ADAPTER_ADMIN_TOKEN", TOKEN)
    config = tmp_path / "c.toml"
    config.write_text(f'[ops]\nbackup_dir = "{tmp_path / "backups"}"\n', encoding="utf-8")
    _execute(db, "UPDATE events SET actor = 'mallory' WHERE seq = 3")
    args = ["--config", str(config), "--db", str(db), "--reason", "ticket 42"]
    assert cli_audit.main(["restart", "--at", "4", *args]) == 1
    assert cli_audit.main(["restart", "--at", "3", *args]) == 0
    assert cli_audit.main(["verify", "--db", str(db)]) == 0
    assert "restarted by an admin at 3" in capsys.readouterr().out
    with sqlite3.connect(db) as conn:
        actor, detail = conn.execute("SELECT actor, detail FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    conn.close()
    assert actor == "admin"
    assert json.loads(detail)["at_seq"] == 3
    assert len(json.loads(detail)["signature"]) == 64
    assert list((tmp_path / "backups" / "evidence").glob("*.db"))
    _execute(db, "UPDATE events SET actor = 'eve' WHERE seq = 5")
    assert cli_audit.main(["verify", "--db", str(db)]) == 1


def test_a_restart_moves_the_anchor_past_a_cut_tail(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cut tail stays flagged through new writes until the admin restarts the chain there."""
    monkeypatch.setenv("KKT_ADAPTER_ADMIN_TOKEN", TOKEN)
    _execute(db, "DELETE FROM events WHERE seq > 4")
    asyncio.run(_fill(db, 1, prefix="after-cut"))
    assert cli_audit.main(["verify", "--db", str(db)]) == 1
    config = tmp_path / "c.toml"
    config.write_text(f'[ops]\nbackup_dir = "{tmp_path / "backups"}"\n', encoding="utf-8")
    assert cli_audit.main(["restart", "--at", "6", "--config", str(config), "--db", str(db), "--reason", "r"]) == 0
    assert cli_audit.main(["verify", "--db", str(db)]) == 0


def test_a_head_record_that_cannot_be_written_does_not_stop_the_buffer(tmp_path: Path) -> None:
    """When the head record cannot be created (here a directory is in its way), receipts are still stored."""
    path = tmp_path / "buffer.db"
    head_path(path).mkdir()
    asyncio.run(_fill(path, 2))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM receipts").fetchone()[0] == 2
    conn.close()


def test_a_restart_is_refused_while_the_daemon_holds_the_data_directory(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the data directory's lock held (a running daemon), the restart changes nothing and says why."""
    monkeypatch.setenv("KKT_ADAPTER_ADMIN_TOKEN", TOKEN)
    _execute(db, "UPDATE events SET actor = 'mallory' WHERE seq = 3")
    lock = hold_pid_lock(pid_path(db))
    try:
        code = cli_audit.main(["restart", "--at", "3", "--db", str(db), "--reason", "r"])
    finally:
        release_pid_lock(lock)
    assert code == 1
    assert "already running" in capsys.readouterr().err
    assert cli_audit.main(["verify", "--db", str(db)]) == 1
