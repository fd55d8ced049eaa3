"""Opening the buffer's SQLite file: durable pragmas on every connection, refusal of foreign files, migrations.

Every connection runs in WAL mode with ``synchronous=FULL`` (a commit survives power loss, not only a
crash) and a busy timeout; autocommit is off at the driver level (``isolation_level=None``) so that
writers say ``BEGIN IMMEDIATE`` themselves.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from kkt_adapter.buffer.errors import DatabaseRefused, StorageUnavailable
from kkt_adapter.buffer.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION


def connect(path: Path, busy_timeout_ms: int = 5000, readonly: bool = False) -> sqlite3.Connection:
    """Open ``path`` with the durable pragmas; the caller owns the connection (one thread each)."""
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    try:
        conn = sqlite3.connect(
            uri, uri=True, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.DatabaseError as exc:
        raise _refusal(path, exc) from exc
    conn.row_factory = sqlite3.Row
    return conn


def _refusal(path: Path, exc: sqlite3.Error) -> Exception:
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return DatabaseRefused(f"{path} is not a kkt-adapter database or is corrupt ({text}); refusing to touch it")
    return StorageUnavailable(f"cannot open {path}: {text} (is its directory writable and the disk mounted?)")


def open_buffer(path: Path, busy_timeout_ms: int = 5000) -> sqlite3.Connection:
    """Open (creating if absent) and migrate the buffer; refuse a corrupt, foreign or newer file untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    existed = path.exists() and path.stat().st_size > 0
    if existed:
        _check_existing(path, busy_timeout_ms)
    conn = connect(path, busy_timeout_ms)
    migrate(conn)
    return conn


SQLITE_MAGIC = b"SQLite format 3\x00"
HEADER_BYTES = 100


def _check_header(path: Path) -> int:
    """The file's ``application_id`` from its 100-byte header, read as plain bytes.

    A file that is not ours must be refused without SQLite ever opening it: even a read-only open of a
    file whose header says "WAL" creates ``-shm``/``-wal`` files beside it.
    """
    try:
        with path.open("rb") as handle:
            header = handle.read(HEADER_BYTES)
    except OSError as exc:
        raise StorageUnavailable(f"cannot read {path}: {exc.strerror}") from exc
    if len(header) < HEADER_BYTES or not header.startswith(SQLITE_MAGIC):
        raise DatabaseRefused(f"{path} is not a kkt-adapter database (no SQLite header); refusing to touch it")
    app_id = int.from_bytes(header[68:72], "big")
    if app_id not in (APPLICATION_ID, 0):
        raise DatabaseRefused(f"{path} belongs to another application (application_id {app_id}); refusing")
    return app_id


def _has_tables(path: Path) -> bool:
    """Whether an unmarked file already holds tables (read as immutable: no lock, no ``-shm``, no ``-wal``)."""
    try:
        probe = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            return bool(probe.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
        finally:
            probe.close()
    except sqlite3.DatabaseError as exc:
        raise _refusal(path, exc) from exc


def _check_existing(path: Path, busy_timeout_ms: int) -> None:
    """Checks before anything is written: ours (by header), not newer, and ``quick_check`` ok.

    An unmarked file (``application_id`` 0) is ours only while it holds no table: a first start that died
    before its first migration committed.
    """
    if _check_header(path) == 0:
        if _has_tables(path):
            raise DatabaseRefused(f"{path} belongs to another application (it has tables but no mark); refusing")
        return
    try:
        probe = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=busy_timeout_ms / 1000)
    except sqlite3.Error as exc:
        raise _refusal(path, exc) from exc
    try:
        version = probe.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise DatabaseRefused(f"{path} has schema {version}, newer than this version ({SCHEMA_VERSION})")
        verdict = probe.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise DatabaseRefused(f"{path} failed quick_check: {verdict}; restore a backup")
    except sqlite3.DatabaseError as exc:
        raise _refusal(path, exc) from exc
    finally:
        probe.close()


def migrate(conn: sqlite3.Connection, migrations: Sequence[str] = MIGRATIONS) -> None:
    """Apply the migrations newer than the file's ``user_version``, each in its own transaction.

    A failing migration is rolled back whole and leaves ``user_version`` at the last one that succeeded.
    """
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(migrations[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
