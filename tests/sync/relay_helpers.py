"""Helpers for the relay sync's tests: FN messages laid out per docs/ofd-exchange.md §3, a store on a real file.

The messages are built here, independently of ``kkt_adapter.ofd.wire`` (the code under test reads them):
session header ``<IHH16sHHH`` and container header ``<HHBBB2s8s3s12s`` per yandex/ofd ``ofd/protocol.py``,
CRC-16/CCITT-FALSE over ``container[0:2] + container[4:]`` (computed by the OFD simulator's own function).
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

from kkt_adapter.buffer.store import Store
from kkt_adapter.ofd.sim import frames

FN = "9999078900004242"


def fn_message(fd_number: int, fn_serial: str = FN, doc_type: int = 3) -> bytes:
    """An FN→OFD message for ``fd_number`` with a small TLV body and a right CRC."""
    body = struct.pack("<HH", doc_type, 8) + struct.pack("<HHI", 1040, 4, fd_number)
    length = 32 + len(body)
    head = struct.pack("<HHBBB", length, 0, 0xA5, doc_type, 1) + b"\x10\x09" + bytes.fromhex(fn_serial)
    container = head + fd_number.to_bytes(3, "big") + bytes(12) + body
    container = container[:2] + struct.pack("<H", frames.crc16(container[0:2] + container[4:])) + container[4:]
    session = b"\x2a\x08\x41\x0a\x81\xa2\x01\x20" + fn_serial.encode() + struct.pack("<HHH", len(container), 0x14, 0)
    return session + container


def sim_ticket(message: bytes, code: int = 0, **changes: object) -> bytes:
    """What the OFD simulator would answer for ``message`` (its own ticket writer)."""
    incoming = frames.read_message(message[:30], message[30:])
    for name, value in changes.items():
        incoming = frames.Incoming(**{**incoming.__dict__, name: value})
    return frames.ticket(incoming, 1_800_000_000, frames.DEFAULT_MAC_KEY, code)


async def open_store(path: Path, now: Callable[[], datetime]) -> Store:
    return await Store.open(path, clock=now)


async def put(store: Store, *fds: int) -> None:
    for fd in fds:
        assert await store.outbox_put("kkt1", FN, fd, 3, fn_message(fd))


Exchange = Callable[[bytes], Awaitable[bytes]]
