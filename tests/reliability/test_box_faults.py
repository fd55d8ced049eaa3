"""Faults of the box under a real daemon: a full disk, a read-only database, a corrupt or foreign database file.

For the full disk the data directory is a 2 MB tmpfs mounted for the test (root only: skipped with the
reason otherwise), and the daemon runs with ``min_free_bytes = 0`` so that the disk really fills and
SQLite itself reports it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from daemon_harness import Daemon, make_receipt, prepare_daemon, wait_until
from prereq import missing
from reliability_support import assert_error_shape, integrity

MOUNT_SIZE = "2m"
MAX_POSTS = 5_000


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30, check=False)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``path`` for the block; skip the test if mounting is not permitted."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    if mounted.returncode != 0:
        missing(f"cannot mount a tmpfs here (needs root/CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        for _ in range(50):
            if _run("umount", str(path)).returncode == 0:
                break
            time.sleep(0.1)  # the daemon's files may still be closing; bounded


def post(client: httpx.Client, key: str) -> httpx.Response:
    return client.post("/v1/receipts", json=make_receipt(), headers={"Idempotency-Key": key})


def fill_disk(client: httpx.Client, data_dir: Path) -> tuple[list[str], httpx.Response]:
    """Leave ~150 KB free with a filler file, then post until a non-2xx; return the accepted keys and that answer."""
    free = os.statvfs(data_dir).f_bavail * os.statvfs(data_dir).f_frsize
    with (data_dir / "filler").open("wb") as filler:
        filler.write(b"\0" * max(0, free - 150 * 1024))
    accepted: list[str] = []
    for n in range(MAX_POSTS):
        response = post(client, f"fill-{n}")
        if response.status_code >= 300:
            return accepted, response
        accepted.append(f"fill-{n}")
    raise AssertionError(f"{MAX_POSTS} receipts fitted in {MOUNT_SIZE}; the disk never filled")


def ready_status(client: httpx.Client) -> int:
    return client.get("/health/ready").status_code


@pytest.fixture
def box(tmp_path: Path) -> Iterator[tuple[Daemon, Path]]:
    """A daemon whose data directory is a fresh 2 MB tmpfs."""
    daemon = prepare_daemon(tmp_path / "box", {"buffer": {"min_free_bytes": 0}})
    with tmpfs(daemon.db_path.parent, MOUNT_SIZE) as data_dir:
        daemon.start()
        try:
            yield daemon, data_dir
        finally:
            daemon.stop()


def test_readiness_agrees_with_intake_on_a_small_disk(box: tuple[Daemon, Path]) -> None:
    """While intake stores receipts (2 MB free, ``min_free_bytes = 0``) /health/ready says ready, not "disk full".

    Regression: the health verdict used a fixed 50 MB "disk_full" threshold (ops ``Limits``) instead of the
    buffer's ``min_free_bytes``, so readiness said 503 "do not sell" while every POST answered 202.
    """
    daemon, _ = box
    with httpx.Client(base_url=daemon.base_url, timeout=30) as client:
        assert post(client, "small-disk").status_code == 202
        ready = client.get("/health/ready")
        assert ready.status_code == 200, ready.text


def test_a_full_disk_answers_503_keeps_what_was_accepted_and_recovers(box: tuple[Daemon, Path]) -> None:
    """Posting until the disk is full gives 503 + Retry-After; accepted receipts stay; freeing space resumes intake."""
    daemon, data_dir = box
    with httpx.Client(base_url=daemon.base_url, timeout=30) as client:
        accepted, refused = fill_disk(client, data_dir)
        assert refused.status_code == 503, refused.text
        assert refused.headers.get("retry-after", "").isdigit()
        body = assert_error_shape(refused)
        assert "full" in body["message"].lower() or "disk" in body["message"].lower(), body
        assert len(accepted) > 0
        for key in accepted:
            assert client.get(f"/v1/receipts/{key}").status_code == 200, key
        assert post(client, "while-full").status_code == 503
        wait_until(lambda: ready_status(client) == 503, 15, "/health/ready to report the full disk", poll_s=0.2)
        assert client.get("/health/ready").json()["reason"]
        (data_dir / "filler").unlink()
        wait_until(lambda: post(client, "after-space").status_code == 202, 15, "intake to resume", poll_s=0.2)
        wait_until(lambda: ready_status(client) == 200, 15, "/health/ready to recover", poll_s=0.2)
        assert client.get("/v1/receipts/after-space").json()["state"] in {"accepted", "printing", "unknown"}
    daemon.stop()
    assert integrity(daemon.db_path) == "ok"


@contextlib.contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """``chattr +i`` on ``paths`` for the block (refused even to root); skip where the file system lacks it."""
    result = _run("chattr", "+i", *map(str, paths))
    if result.returncode != 0:
        missing(f"no immutable attribute here (needs root and an ext file system): {result.stderr.strip()}")
    try:
        yield
    finally:
        assert _run("chattr", "-i", *map(str, paths)).returncode == 0


def test_a_database_that_turns_read_only_answers_503_with_the_reason_and_recovers(tmp_path: Path) -> None:
    """With the database and its WAL made unwritable mid-run, intake answers 503 naming it; writable again resumes.

    ``mount -o remount,ro`` of the data file system is refused by the kernel ("mount point is busy") while
    the daemon holds its files open for writing, so the read-only state is made with ``chattr +i``.
    """
    daemon = prepare_daemon(tmp_path / "ro")
    daemon.start()
    try:
        with httpx.Client(base_url=daemon.base_url, timeout=30) as client:
            assert post(client, "before-ro").status_code == 202
            with immutable(daemon.db_path, daemon.db_path.with_name(daemon.db_path.name + "-wal")):
                refused = post(client, "while-ro")
                assert refused.status_code == 503, refused.text
                assert refused.headers.get("retry-after", "").isdigit()
                message = assert_error_shape(refused)["message"]
                assert "read-only" in message or "cannot be written" in message, message
                assert client.get("/v1/receipts/before-ro").status_code == 200
                wait_until(lambda: ready_status(client) == 503, 15, "/health/ready to report it", poll_s=0.2)
            wait_until(lambda: post(client, "after-rw").status_code == 202, 15, "intake to resume", poll_s=0.2)
            wait_until(lambda: ready_status(client) == 200, 15, "/health/ready to recover", poll_s=0.2)
            assert client.get("/v1/receipts/while-ro").status_code == 404
    finally:
        daemon.stop()
    assert integrity(daemon.db_path) == "ok"


def _refused_start(tmp_path: Path, name: str, content: bytes) -> tuple[int, str, bytes]:
    """Start a daemon over a database file holding ``content``; (exit code, log, file bytes afterwards)."""
    daemon = prepare_daemon(tmp_path / name)
    daemon.db_path.parent.mkdir(parents=True)
    daemon.db_path.write_bytes(content)
    process = daemon.spawn()
    try:
        code = process.wait(timeout=30)
    finally:
        daemon.stop()
    return code, daemon.log_text(), daemon.db_path.read_bytes()


def _foreign_database(path: Path) -> bytes:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('someone else')")
    conn.commit()
    conn.close()
    return path.read_bytes()


@pytest.mark.parametrize("kind", ["random bytes", "truncated header", "foreign SQLite database"])
def test_a_corrupt_or_foreign_database_stops_the_start_untouched(tmp_path: Path, kind: str) -> None:
    """The daemon refuses to start over a file that is not its database: non-zero exit, a clear line, bytes kept."""
    if kind == "random bytes":
        content = os.urandom(64 * 1024)
    elif kind == "truncated header":
        content = b"SQLite format 3\0" + os.urandom(100)
    else:
        content = _foreign_database(tmp_path / "foreign.db")
    code, log, after = _refused_start(tmp_path, kind.replace(" ", "-"), content)
    assert code != 0, log
    assert after == content, "the refused file was modified"
    assert "refusing" in log or "not a kkt-adapter database" in log or "another application" in log, log
    assert not any(p.name.endswith(("-wal", "-shm")) for p in (tmp_path / kind.replace(" ", "-") / "data").iterdir())
