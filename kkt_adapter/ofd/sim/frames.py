"""The simulator's own reading of FN messages and writing of tickets (no code shared with the daemon).

Reading checks the two headers and the CRC and never looks into the body. A ticket is laid out as the
emulator documents it (``docs/emulator.md``, after Mcublog/ofd's captured Taxcom tickets)::

    session (30)     2A 08 41 0A | 81 A2 | P-version of the message | FN serial | container length
                     | flags 14 00 | CRC 00 00
    container (32)   length | CRC-16/CCITT-FALSE over [0:2]+[4:] | 5A | 07 (operator ticket) | 01
                     | the message's 2 service bytes | FN BCD | FD 3 bytes big-endian | 12 zero bytes
    body             tag 7 { 1041 FN serial, 1040 FD u32 LE, 1012 unix time u32 LE, 1068 { 1022 code } }
    trailer (10)     82 | 06 | MAC 6 bytes | 00 00
    MAC              HMAC-SHA256(key, container[0:2] + container[4:-10])[:6]
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

SESSION_LEN = 30
HEADER_LEN = 32
TRAILER_LEN = 10
MAGIC = b"\x2a\x08\x41\x0a"
S_VERSION = b"\x81\xa2"
FN_TO_OFD = 0xA5
OFD_TO_FN = 0x5A
TICKET_DOC = 7
DEFAULT_MAC_KEY = b"kkt-adapter emulator OFD test key"


class BadMessage(Exception):
    """The FN's message fails a header or CRC check; the simulator closes without answering."""


@dataclass(frozen=True)
class Incoming:
    """What the simulator reads from a message: headers only."""

    p_version: bytes
    fn_serial: str
    service: bytes
    fd_number: int
    doc_type: int


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE, bitwise (poly 0x1021, init 0xFFFF)."""
    value = 0xFFFF
    for byte in data:
        value ^= byte << 8
        for _ in range(8):
            value = (value << 1) ^ 0x1021 if value & 0x8000 else value << 1
            value &= 0xFFFF
    return value


def read_header(head: bytes) -> int:
    """The body length a 30-byte session header announces, after its signature and S-version check."""
    if head[0:4] != MAGIC or head[4:6] != S_VERSION:
        raise BadMessage(f"session signature/S-version {head[0:6].hex(' ')}")
    return int.from_bytes(head[24:26], "little")


def read_message(head: bytes, body: bytes) -> Incoming:
    """Check the container's length, CRC, type A5 and FN number against the session header."""
    serial = head[8:24]
    if not serial.isdigit():
        raise BadMessage(f"FN serial {serial!r}")
    if len(body) < HEADER_LEN or int.from_bytes(body[0:2], "little") != len(body):
        raise BadMessage(f"container length field does not match its {len(body)} bytes")
    if int.from_bytes(body[2:4], "little") != crc16(body[0:2] + body[4:]):
        raise BadMessage("container CRC mismatch")
    if body[4] != FN_TO_OFD:
        raise BadMessage(f"message type {body[4]:02X}, expected A5")
    if body[9:17].hex() != serial.decode():
        raise BadMessage("container FN number differs from the session header's")
    return Incoming(head[6:8], serial.decode(), body[7:9], int.from_bytes(body[17:20], "big"), body[5])


def _tlv(tag: int, value: bytes) -> bytes:
    return struct.pack("<HH", tag, len(value)) + value


def sign(container: bytes, key: bytes) -> bytes:
    """``container`` with its trailer MAC and then its CRC filled in."""
    mac = hmac.new(key, container[0:2] + container[4:-TRAILER_LEN], hashlib.sha256).digest()[:6]
    signed = container[:-8] + mac + container[-2:]
    return signed[:2] + struct.pack("<H", crc16(signed[0:2] + signed[4:])) + signed[4:]


def ticket(msg: Incoming, unixtime: int, key: bytes, code: int = 0) -> bytes:
    """A whole answer (session header + signed ticket container) for ``msg``, OFD answer code ``code``."""
    fields = _tlv(1041, msg.fn_serial.encode()) + _tlv(1040, msg.fd_number.to_bytes(4, "little"))
    fields += _tlv(1012, unixtime.to_bytes(4, "little")) + _tlv(1068, _tlv(1022, bytes([code])))
    body = _tlv(TICKET_DOC, fields)
    length = HEADER_LEN + len(body) + TRAILER_LEN
    head = struct.pack("<HHBBB", length, 0, OFD_TO_FN, TICKET_DOC, 1) + msg.service + bytes.fromhex(msg.fn_serial)
    head += msg.fd_number.to_bytes(3, "big") + bytes(12)
    container = sign(head + body + b"\x82\x06" + bytes(6) + b"\x00\x00", key)
    return session(msg.p_version, msg.fn_serial, container)


def session(p_version: bytes, fn_serial: str, container: bytes, flags: int = 0x0014) -> bytes:
    """The 30-byte session header in front of ``container``."""
    head = MAGIC + S_VERSION + p_version + fn_serial.encode()
    return head + struct.pack("<HHH", len(container), flags, 0) + container
