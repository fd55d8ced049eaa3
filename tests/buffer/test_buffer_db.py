"""Opening the file: durable pragmas, migrations by user_version, refusal of foreign, corrupt or newer files."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path

import pytest
from buffer_support import NOW, receipt, snapshot

from kkt_adapter.buffer.db import connect, migrate, open_buffer
from kkt_adapter.buffer.errors import DatabaseRefused
from kkt_adapter.buffer.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION
from kkt_adapter.buffer.store import Store
from kkt_adapter.receipts.model import TaxSystem


def pragmas(conn: sqlite3.Connection) -> tuple[str, int, int]:
    return (
        conn.execute("PRAGMA journal_mode").fetchone()[0],
        conn.execute("PRAGMA synchronous").fetchone()[0],
        conn.execute("PRAGMA busy_timeout").fetchone()[0],
    )


def test_every_connection_is_wal_full_with_a_busy_timeout(tmp_path: Path) -> None:
    """The writer's and a reader's connections both run WAL, synchronous=FULL (2) and the busy timeout."""
    writer = open_buffer(tmp_path / "b.db", busy_timeout_ms=1234)
    reader = connect(tmp_path / "b.db", busy_timeout_ms=4321)
    assert pragmas(writer) == ("wal", 2, 1234)
    assert pragmas(reader) == ("wal", 2, 4321)
    writer.close()
    reader.close()


def test_a_new_file_is_migrated_and_marked_as_ours(tmp_path: Path) -> None:
    """A fresh file gets every migration, our application_id and user_version = the schema version."""
    conn = open_buffer(tmp_path / "data" / "b.db")
    app_id, version = (
        conn.execute("PRAGMA application_id").fetchone()[0],
        conn.execute("PRAGMA user_version").fetchone()[0],
    )
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert (app_id, version) == (APPLICATION_ID, SCHEMA_VERSION)
    assert {"receipts", "events", "settings"} <= tables


def test_only_migrations_newer_than_user_version_run(tmp_path: Path) -> None:
    """Reopening a version-1 file with a second migration runs only that one and keeps the data."""
    path = tmp_path / "b.db"
    conn = open_buffer(path)
    conn.execute("INSERT INTO settings (name, value, updated_at) VALUES ('x', '1', 'now')")
    migrate(conn, [*MIGRATIONS, "CREATE TABLE extra (id INTEGER PRIMARY KEY)"])  # v1 would fail if run twice
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 1
    assert conn.execute("SELECT value FROM settings WHERE name = 'x'").fetchone()[0] == "1"
    migrate(conn, [*MIGRATIONS, "CREATE TABLE extra (id INTEGER PRIMARY KEY)"])  # nothing left to do
    conn.close()


def test_a_failing_migration_is_rolled_back_whole(tmp_path: Path) -> None:
    """A migration that fails halfway leaves no trace and user_version where it was."""
    conn = open_buffer(tmp_path / "b.db")
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, [*MIGRATIONS, "CREATE TABLE half (id INTEGER); CREATE TABLE receipts (x)"])
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half'").fetchone()[0] == 0
    conn.close()


def make_foreign(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, blob BLOB)")
    conn.execute("INSERT INTO photos (blob) VALUES (x'00ff')")
    conn.commit()
    conn.close()


def make_other_app(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 1234")
    conn.commit()
    conn.close()


def make_newer(path: Path) -> None:
    conn = open_buffer(path)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()


def make_random(path: Path) -> None:
    path.write_bytes(random.Random(7).randbytes(16_384))


def make_torn(path: Path) -> None:
    """Our file with its second half overwritten by garbage (a torn copy)."""
    conn = open_buffer(path)
    conn.executemany(
        "INSERT INTO settings (name, value, updated_at) VALUES (?, ?, 'now')", [(str(n), "v" * 500) for n in range(200)]
    )
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    data = bytearray(path.read_bytes())
    half = len(data) // 2
    data[half:] = random.Random(8).randbytes(len(data) - half)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (make_foreign, "another application"),
        (make_other_app, "another application"),
        (make_newer, "newer"),
        (make_random, "not a kkt-adapter database"),
        (make_torn, "corrupt|restore a backup"),
    ],
)
def test_a_file_that_is_not_ours_is_refused_untouched(tmp_path: Path, make: object, words: str) -> None:
    """A foreign, other-application, newer, random or corrupt file raises DatabaseRefused; no byte or mtime changes."""
    path = tmp_path / "data" / "b.db"
    path.parent.mkdir()
    make(path)  # type: ignore[operator]
    before = snapshot(path.parent)
    with pytest.raises(DatabaseRefused, match=words):
        open_buffer(path)

    async def via_store() -> None:
        await Store.open(path, clock=lambda: NOW)

    with pytest.raises(DatabaseRefused):
        asyncio.run(via_store())
    assert snapshot(path.parent) == before


def test_an_empty_file_is_taken_as_new(tmp_path: Path) -> None:
    """A zero-byte file (e.g. created by a provisioning script) becomes a fresh buffer."""
    path = tmp_path / "b.db"
    path.touch()
    conn = open_buffer(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_a_committed_receipt_survives_close_and_reopen(tmp_path: Path) -> None:
    """What the store acknowledged is in the file after a clean restart, with integrity_check ok."""

    async def scenario() -> None:
        store = await Store.open(tmp_path / "b.db", clock=lambda: NOW)
        await store.insert_receipt("k1", receipt(), "kkt1", TaxSystem.OSN)
        await store.close()
        store = await Store.open(tmp_path / "b.db", clock=lambda: NOW)
        assert await store.get("k1") is not None
        await store.close()

    asyncio.run(scenario())
    conn = sqlite3.connect(tmp_path / "b.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


@pytest.mark.parametrize("app_id", [0x12345678, 0])
def test_a_foreign_header_in_wal_mode_is_refused_without_side_files(tmp_path: Path, app_id: int) -> None:
    """A file whose header says WAL but is not ours is refused before SQLite opens it: no -wal/-shm appear."""
    header = bytearray(b"SQLite format 3\x00" + bytes(84))
    header[16:18] = (4096).to_bytes(2, "big")
    header[18] = header[19] = 2  # WAL read/write versions: a read-only open would create -shm
    header[68:72] = app_id.to_bytes(4, "big")
    path = tmp_path / "buffer.db"
    path.write_bytes(bytes(header) + bytes(4096 - 100))
    before = path.read_bytes()
    if app_id == 0:  # unmarked: refused only if it holds tables; this page is no valid b-tree → corrupt
        with pytest.raises(DatabaseRefused):
            open_buffer(path)
    else:
        with pytest.raises(DatabaseRefused, match="another application"):
            open_buffer(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["buffer.db"]
