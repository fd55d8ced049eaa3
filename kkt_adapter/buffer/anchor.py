"""The audit chain's head, anchored outside the events table, so rows cut from the chain's end are noticed.

A hash chain detects an edited, inserted or deleted row *inside* the log, but not rows cut from its end:
the shortened log is still a valid chain. So the writer records the head it committed — the newest
event's ``seq`` and ``hash`` — in a small file beside the database (``<db>.chain-head``), written after
every commit that appended events and before any caller is told, and fsync'd at most
``ANCHOR_SYNC_S`` later (:class:`~kkt_adapter.buffer.writer.Writer`; a crash of the daemon loses nothing
written, a power cut at most that last half second). :func:`check_tail` then compares the table with that
record: a table that ends before the anchored ``seq`` or holds another hash there has lost its tail.

The file has two fixed slots (at offsets 0 and 4096, one per page); a record goes to slot ``seq % 2`` and
carries a CRC. A torn or lost write of one slot leaves the other one, whose head is older: an anchor may
lag the table after a power cut (never a false alarm), it is never ahead of what was committed. Reading
takes the valid slot with the higher ``seq``. The same format holds the start-up check's verified point
(``<db>.chain-verified``, see :mod:`kkt_adapter.buffer.chain_check`).
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

HEAD_SUFFIX = ".chain-head"
VERIFIED_SUFFIX = ".chain-verified"
_SLOT_BYTES = 4096
_MAGIC = "KKTCHAIN1"


@dataclass(frozen=True)
class Anchor:
    """A point of the chain: the event ``seq`` and its ``hash``."""

    seq: int
    hash: str


def head_path(db_path: Path) -> Path:
    """Where the head record of the buffer at ``db_path`` lives."""
    return db_path.with_name(db_path.name + HEAD_SUFFIX)


def verified_path(db_path: Path) -> Path:
    """Where the start-up check keeps the last point it verified."""
    return db_path.with_name(db_path.name + VERIFIED_SUFFIX)


def encode(anchor: Anchor) -> bytes:
    """One slot's bytes: ``magic seq hash crc`` and a newline, padded to the slot size."""
    body = f"{_MAGIC} {anchor.seq} {anchor.hash}"
    line = f"{body} {zlib.crc32(body.encode()):08x}\n".encode()
    return line.ljust(_SLOT_BYTES, b"\0")


def decode(slot: bytes) -> Anchor | None:
    """The anchor in one slot, or None for an empty, torn or foreign slot."""
    try:
        text = slot.split(b"\n", 1)[0].decode("ascii")
        magic, seq, digest, crc = text.split(" ")
    except (UnicodeDecodeError, ValueError):
        return None
    body = f"{magic} {seq} {digest}"
    if magic != _MAGIC or f"{zlib.crc32(body.encode()):08x}" != crc or not seq.isdigit():
        return None
    return Anchor(int(seq), digest)


def read_anchor(path: Path) -> Anchor | None:
    """The newest valid record of ``path``; None when the file is absent, unreadable or holds no valid slot."""
    try:
        data = path.read_bytes()
    except OSError:  # absent, or unreadable: no anchor (a weaker tail check, never a false alarm)
        return None
    found = [a for a in (decode(data[i : i + _SLOT_BYTES]) for i in (0, _SLOT_BYTES)) if a is not None]
    return max(found, key=lambda a: a.seq, default=None)


class AnchorFile:
    """The writing side: one open file, a record written in place and made durable with ``fdatasync``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        created = not path.exists()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if created:
                os.ftruncate(self._fd, 2 * _SLOT_BYTES)
                os.fsync(self._fd)
                _fsync_dir(path.parent)
        except OSError:
            os.close(self._fd)
            raise

    def write(self, anchor: Anchor, sync: bool = True) -> None:
        """Record ``anchor``, durably when ``sync`` (returns after ``fdatasync``; otherwise call :meth:`sync`
        later); raises OSError when the disk refuses."""
        os.pwrite(self._fd, encode(anchor), (anchor.seq % 2) * _SLOT_BYTES)
        if sync:
            os.fdatasync(self._fd)

    def sync(self) -> None:
        """Make what was written durable."""
        os.fdatasync(self._fd)

    def reset(self, anchor: Anchor) -> None:
        """Overwrite both slots with ``anchor`` (after an audited chain restart: the old head is evidence only)."""
        os.pwrite(self._fd, encode(anchor) + encode(anchor), 0)
        os.fdatasync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
