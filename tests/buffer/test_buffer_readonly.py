"""A read-only or failing disk gives StorageUnavailable with a clear message, never a corrupted file.

Root ignores file modes, so ``chmod`` proves nothing here: the tests use a read-only bind mount (the kernel
refuses writes whoever asks) and the immutable attribute (``chattr +i``, refused even to root). They
need root and an ext-family file system; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from buffer_support import NOW, receipt, snapshot
from prereq import missing

from kkt_adapter.buffer.errors import StorageUnavailable
from kkt_adapter.buffer.store import Store
from kkt_adapter.receipts.model import TaxSystem

OSN = TaxSystem.OSN


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30, check=False)


@contextlib.contextmanager
def read_only_mount(directory: Path) -> Iterator[None]:
    """Make ``directory`` a read-only bind mount of itself for the duration; always unmounted after."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        missing("a read-only bind mount needs root and mount(8)")
    bound = _run("mount", "--bind", str(directory), str(directory))
    if bound.returncode != 0:
        missing(f"cannot bind-mount here: {bound.stderr.strip()}")
    try:
        remount = _run("mount", "-o", "remount,bind,ro", str(directory))
        if remount.returncode != 0:
            missing(f"cannot remount read-only here: {remount.stderr.strip()}")
        yield
    finally:
        assert _run("umount", str(directory)).returncode == 0


@contextlib.contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """Set the immutable attribute on ``paths`` for the duration (refused even to root)."""
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        missing("chattr +i needs root and chattr(1)")
    result = _run("chattr", "+i", *map(str, paths))
    if result.returncode != 0:
        missing(f"this file system has no immutable attribute: {result.stderr.strip()}")
    try:
        yield
    finally:
        assert _run("chattr", "-i", *map(str, paths)).returncode == 0


async def _store(path: Path) -> Store:
    return await Store.open(path, clock=lambda: NOW)


def make_buffer(path: Path, keys: int = 1) -> None:
    async def fill() -> None:
        store = await _store(path)
        for n in range(keys):
            await store.insert_receipt(f"k{n}", receipt(n), "kkt1", OSN)
        await store.close()

    asyncio.run(fill())


def integrity(path: Path) -> tuple[str, list[str]]:
    conn = sqlite3.connect(path)
    try:
        verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
        return verdict, [r[0] for r in conn.execute("SELECT key FROM receipts ORDER BY seq")]
    finally:
        conn.close()


def test_a_new_buffer_in_a_read_only_directory_fails_to_open_clearly(tmp_path: Path) -> None:
    """Creating the file in a read-only directory raises StorageUnavailable naming the path and the likely cause."""
    data = tmp_path / "data"
    data.mkdir()
    with read_only_mount(data), pytest.raises(StorageUnavailable) as caught:
        asyncio.run(_store(data / "b.db"))
    assert str(data / "b.db") in str(caught.value)
    assert "writable" in str(caught.value)
    assert list(data.iterdir()) == []


def test_an_existing_buffer_in_a_read_only_directory_is_refused_at_open_untouched(tmp_path: Path) -> None:
    """A closed WAL buffer on a read-only mount cannot be opened (SQLite needs its -shm): clear error, no change."""
    data = tmp_path / "data"
    data.mkdir()
    make_buffer(data / "b.db")
    before = snapshot(data)
    with read_only_mount(data), pytest.raises(StorageUnavailable, match="writable"):
        asyncio.run(_store(data / "b.db"))
    assert snapshot(data) == before
    assert integrity(data / "b.db") == ("ok", ["k0"])


def test_an_immutable_database_file_refuses_writes_clearly(tmp_path: Path) -> None:
    """A database file that cannot be written (dir writable) gives StorageUnavailable on intake, file intact."""
    path = tmp_path / "b.db"
    make_buffer(path)
    before = path.read_bytes()

    async def attempt() -> None:
        store = await _store(path)
        with pytest.raises(StorageUnavailable, match="read-only"):
            await store.insert_receipt("new", receipt(5), "kkt1", OSN)
        await store.close()

    with immutable(path):
        asyncio.run(attempt())
    assert path.read_bytes() == before
    assert integrity(path) == ("ok", ["k0"])


def test_a_disk_that_fails_mid_run_refuses_intake_then_recovers(tmp_path: Path) -> None:
    """Writes failing under a running store give StorageUnavailable; once the disk is back, intake goes on."""
    path = tmp_path / "b.db"

    async def scenario() -> None:
        store = await _store(path)
        await store.insert_receipt("k0", receipt(0), "kkt1", OSN)
        with immutable(path, path.with_name("b.db-wal")):
            for key in ("lost1", "lost2"):
                with pytest.raises(StorageUnavailable, match="cannot be written"):
                    await store.insert_receipt(key, receipt(1), "kkt1", OSN)
            assert store.writer.last_error is not None
        assert (await store.insert_receipt("k1", receipt(2), "kkt1", OSN))[1] is True
        await store.close()

    asyncio.run(scenario())
    assert integrity(path) == ("ok", ["k0", "k1"])
