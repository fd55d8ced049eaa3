"""Online backup of the buffer and its verification.

:func:`create_backup` copies the live database with SQLite's backup API in one step: a single read
transaction, so the copy is a consistent snapshot while the writer keeps committing (WAL readers do not
block writers). The copy is written to ``*.tmp``, checked with ``quick_check``, fsync'd, renamed, and
the directory fsync'd; then a manifest (SHA-256, counts by state, schema version, a sample of receipt
keys with their body hashes, the audit chain's head) is written the same way beside it.

:func:`verify_backup` copies a backup to a temporary directory and checks it against its manifest:
checksum, ``integrity_check``, schema, counts, the sample, and the event chain. It never opens the
original for writing and never raises for a bad backup: every finding is a :class:`Check`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kkt_adapter.buffer.anchor import Anchor, head_path, read_anchor
from kkt_adapter.buffer.chain_check import check_tail
from kkt_adapter.buffer.events import verify_chain

MANIFEST_FORMAT = 1
MANIFEST_SUFFIX = ".manifest.json"
SAMPLE_SIZE = 64


@dataclass(frozen=True)
class BackupResult:
    """A finished backup: the database copy, its manifest, and what the manifest says."""

    path: Path
    manifest_path: Path
    manifest: dict[str, Any]


@dataclass(frozen=True)
class Check:
    """One verification step: its name, whether it passed, and a sentence saying what was found."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class VerifyReport:
    """All checks of one backup; ``ok`` only if every check passed."""

    path: Path
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def as_detail(self) -> dict[str, Any]:
        """A JSON-ready summary for the audit log."""
        return {"path": str(self.path), "ok": self.ok, "failed": [c.name for c in self.checks if not c.ok]}


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp: Path, final: Path) -> None:
    """fsync ``tmp``, rename it to ``final`` atomically, fsync the directory."""
    _fsync_file(tmp)
    tmp.replace(final)
    _fsync_dir(final.parent)


def describe(conn: sqlite3.Connection, sample_size: int = SAMPLE_SIZE) -> dict[str, Any]:
    """What a manifest records about a database: schema, counts by state, a sample, the chain head."""
    counts = {str(s): int(n) for s, n in conn.execute("SELECT state, count(*) FROM receipts GROUP BY state")}
    sample = conn.execute("SELECT key, body_hash FROM receipts ORDER BY random() LIMIT ?", (sample_size,)).fetchall()
    head = conn.execute("SELECT hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    return {
        "schema_version": int(conn.execute("PRAGMA user_version").fetchone()[0]),
        "application_id": int(conn.execute("PRAGMA application_id").fetchone()[0]),
        "counts_by_state": dict(sorted(counts.items())),
        "receipts_total": sum(counts.values()),
        "events_total": int(conn.execute("SELECT count(*) FROM events").fetchone()[0]),
        "events_head": None if head is None else str(head[0]),
        "sample": [{"key": str(k), "body_hash": str(h)} for k, h in sample],
    }


def create_backup(
    db_path: Path,
    out_dir: Path,
    *,
    now: datetime | None = None,
    busy_timeout_ms: int = 5000,
    sample_size: int = SAMPLE_SIZE,
) -> BackupResult:
    """Back up the live buffer at ``db_path`` into ``out_dir``; durable and atomic (never a partial file).

    Raises ``FileNotFoundError`` if ``db_path`` does not exist, ``sqlite3.Error`` if it cannot be read,
    ``RuntimeError`` if the copy fails ``quick_check``.
    """
    if not db_path.is_file():
        raise FileNotFoundError(f"no buffer database at {db_path}")
    taken_at = now or datetime.now(UTC)
    stamp = taken_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out_dir, taken_at)
    final = out_dir / f"kkt-adapter-{stamp}.db"
    tmp = final.with_name(final.name + ".tmp")
    tmp.unlink(missing_ok=True)
    # Read before the copy: the writer records a head only after its commit, so the snapshot holds it.
    anchor = read_anchor(head_path(db_path))
    _copy_online(db_path, tmp, busy_timeout_ms)
    with sqlite3.connect(tmp) as dst:
        verdict = dst.execute("PRAGMA quick_check").fetchone()[0]
        info = describe(dst, sample_size)
    info["chain_anchor"] = None if anchor is None else {"seq": anchor.seq, "hash": anchor.hash}
    dst.close()
    if verdict != "ok":
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"the backup copy failed quick_check: {verdict}")
    _publish(tmp, final)
    manifest = {
        "format": MANIFEST_FORMAT,
        "backup_file": final.name,
        "sha256": sha256_file(final),
        "size_bytes": final.stat().st_size,
        "created_at": taken_at.isoformat(),
        "source": str(db_path),
        **info,
    }
    manifest_path = final.with_name(final.name + MANIFEST_SUFFIX)
    manifest_tmp = manifest_path.with_name(manifest_path.name + ".tmp")
    manifest_tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    _publish(manifest_tmp, manifest_path)
    return BackupResult(final, manifest_path, manifest)


STALE_TEMP_S = 3600


def remove_stale_temps(out_dir: Path, now: datetime) -> list[Path]:
    """Delete the temporary files of backups cut short (power cut, kill) more than an hour before ``now``.

    Every backup has its own time-stamped temporary names, so nothing else ever removes them; a backup
    still being written is younger than an hour and left alone. Returns what was removed.
    """
    removed = []
    for path in out_dir.glob("kkt-adapter-*.tmp*"):
        with contextlib.suppress(OSError):
            if now.timestamp() - path.stat().st_mtime > STALE_TEMP_S:
                path.unlink()
                removed.append(path)
    return removed


def _copy_online(src_path: Path, dst_path: Path, busy_timeout_ms: int) -> None:
    """One-step ``Connection.backup``: a consistent snapshot under one read transaction."""
    src = sqlite3.connect(f"file:{src_path}?mode=rw", uri=True, timeout=busy_timeout_ms / 1000)
    try:
        src.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        dst = sqlite3.connect(dst_path)
        try:
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()


def find_pair(path: Path) -> tuple[Path, Path]:
    """``(database, manifest)`` for either file of a backup pair."""
    if path.name.endswith(MANIFEST_SUFFIX):
        return path.with_name(path.name[: -len(MANIFEST_SUFFIX)]), path
    return path, path.with_name(path.name + MANIFEST_SUFFIX)


def verify_backup(path: Path) -> VerifyReport:
    """Check the backup at ``path`` (the ``.db`` or its manifest) in a temporary copy; see the module doc."""
    db_path, manifest_path = find_pair(path)
    report = VerifyReport(db_path)
    checks = report.checks
    if not db_path.is_file():
        checks.append(Check("file", False, f"the backup file {db_path} does not exist"))
        return report
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        checks.append(Check("manifest", False, f"the manifest {manifest_path} cannot be read: {exc}"))
        return report
    actual = sha256_file(db_path)
    same = actual == manifest.get("sha256")
    checks.append(
        Check("checksum", same, "SHA-256 matches the manifest" if same else
              f"SHA-256 {actual[:16]}… differs from the manifest's: the file was changed or damaged")
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="kkt-verify-") as tmp:
        copy = Path(tmp) / "restore.db"
        shutil.copyfile(db_path, copy)
        checks.extend(_check_database(copy, manifest))
    return report


def _check_database(copy: Path, manifest: dict[str, Any]) -> list[Check]:
    try:
        conn = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
        try:
            return _database_checks(conn, manifest)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return [Check("integrity", False, f"SQLite cannot read the restored copy: {exc}")]


def _database_checks(conn: sqlite3.Connection, manifest: dict[str, Any]) -> list[Check]:
    integrity = [str(row[0]) for row in conn.execute("PRAGMA integrity_check(20)")]
    checks = [Check("integrity", integrity == ["ok"], "integrity_check: " + "; ".join(integrity))]
    if not checks[0].ok:
        return checks
    info = describe(conn, 0)
    checks += [
        _same("schema", info, manifest, ("schema_version", "application_id")),
        _same("counts", info, manifest, ("counts_by_state", "receipts_total", "events_total")),
        _same("events head", info, manifest, ("events_head",)),
        _sample_check(conn, manifest.get("sample", [])),
    ]
    chain = verify_chain(conn)
    checks.append(
        Check("audit chain", chain.ok, f"{chain.checked} events chained" if chain.ok else
              f"event {chain.broken_seq}: {chain.problem}")
    )  # fmt: skip
    checks.append(_anchor_check(conn, manifest.get("chain_anchor")))
    return checks


def _anchor_check(conn: sqlite3.Connection, recorded: Any) -> Check:
    """The backup holds the head the live database had anchored when it was taken (no cut tail)."""
    if recorded is None:
        return Check("anchored head", True, "no anchored head was recorded (database without events or older)")
    tail = check_tail(conn, Anchor(int(recorded["seq"]), str(recorded["hash"])))
    if tail is None:
        return Check("anchored head", True, f"event {recorded['seq']} is the anchored head")
    return Check("anchored head", False, str(tail.problem))


def _same(name: str, info: dict[str, Any], manifest: dict[str, Any], keys: tuple[str, ...]) -> Check:
    wrong = [
        f"{k}: manifest {manifest.get(k)!r}, backup {info.get(k)!r}" for k in keys if info.get(k) != manifest.get(k)
    ]
    return Check(name, not wrong, "match the manifest" if not wrong else "; ".join(wrong))


def _sample_check(conn: sqlite3.Connection, sample: list[dict[str, str]]) -> Check:
    lookup: Callable[[str], Any] = lambda key: conn.execute(  # noqa: E731 - a one-line local query
        "SELECT body_hash FROM receipts WHERE key = ?", (key,)
    ).fetchone()
    bad = [item["key"] for item in sample if (row := lookup(item["key"])) is None or row[0] != item["body_hash"]]
    if bad:
        return Check("sample", False, f"{len(bad)} of {len(sample)} sampled receipts missing or changed: {bad[:5]}")
    return Check("sample", True, f"{len(sample)} sampled receipts present with the same body hash")
