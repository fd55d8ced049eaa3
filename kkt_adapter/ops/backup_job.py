"""The nightly backup job, run inside the daemon: back up, verify, prune, and record both in the audit log.

It runs in the daemon's process because only the daemon's writer may append to the hash-chained event
log (a second process appending would fork the chain). The file work runs in a thread; the coroutine
never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Protocol

from kkt_adapter.buffer.backup import MANIFEST_SUFFIX, VerifyReport, create_backup, verify_backup

log = logging.getLogger(__name__)


class AuditSink(Protocol):
    """What the job needs of the buffer's :class:`~kkt_adapter.buffer.store.Store`."""

    async def audit(self, action: str, actor: str, detail: dict[str, Any], key: str | None = None) -> None: ...


def prune_backups(out_dir: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest backups (database and manifest) in ``out_dir``; return the deleted."""
    backups = sorted(out_dir.glob("kkt-adapter-*.db"), key=lambda p: p.name, reverse=True)
    deleted = []
    for old in backups[max(keep, 1) :]:
        for path in (old, old.with_name(old.name + MANIFEST_SUFFIX)):
            path.unlink(missing_ok=True)
            deleted.append(path)
    return deleted


async def nightly_backup(
    store: AuditSink, db_path: Path, out_dir: Path, *, keep: int = 14, actor: str = "scheduler"
) -> VerifyReport:
    """Back up ``db_path`` into ``out_dir``, verify the copy, keep the ``keep`` newest, audit each step.

    Audit actions: ``backup.create`` (path, sha256, receipts), ``backup.verify`` (ok, failed checks),
    ``backup.failed`` (error) — the error is re-raised after it is recorded.
    """
    try:
        result = await asyncio.to_thread(create_backup, db_path, out_dir)
    except Exception as exc:
        await store.audit("backup.failed", actor, {"error": str(exc), "db": str(db_path)})
        raise
    manifest = result.manifest
    detail = {"path": str(result.path), "sha256": manifest["sha256"], "receipts": manifest["receipts_total"]}
    await store.audit("backup.create", actor, detail)
    report = await asyncio.to_thread(verify_backup, result.path)
    await store.audit("backup.verify", actor, report.as_detail())
    if report.ok:
        deleted = await asyncio.to_thread(prune_backups, out_dir, keep)
        log.info("backup %s verified; pruned %d old files", result.path, len(deleted))
    else:
        log.error("backup %s FAILED verification: %s", result.path, report.as_detail()["failed"])
    return report
