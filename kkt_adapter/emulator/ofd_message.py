"""The emulated FN's OFD messages and its test MAC: bytes built as a real FN lays them out, signed with a test key.

Written from the public descriptions, not from the adapter's parser (a test double shares no code with
what it tests): yandex/ofd ``ofd/protocol.py`` (``SessionHeader``, ``FrameHeader``) and the messages and
tickets captured in Mcublog/ofd ``tests/emu_test.py``. Layout (``docs/emulator.md``, "OFD messages")::

    session header (30)  2A 08 41 0A | 81 A2 | P-version 01 20 | FN serial, 16 ASCII digits
                         | container length u16 LE | flags 14 00 | CRC 00 00
    container header (32) length u16 LE (whole container) | CRC u16 LE | type A5 (FN→OFD) / 5A (OFD→FN)
                         | document type | version 01 | 10 09 | FN number, 8 bytes BCD
                         | FD number, 3 bytes big-endian | 12 zero bytes
    body                 one TLV whose tag is the document type (tag u16 LE, length u16 LE), holding
                         1040 FD u32 LE, 1041 FN serial, 1012 unix time u32 LE, 1077 fiscal sign 6 bytes
    trailer (10)         81 (FN→OFD) / 82 (OFD→FN) | 06 | MAC, 6 bytes | 00 00

**The MAC is the emulator's own, not an FN's crypto** (real FNs accept only tickets signed by a real OFD):
``HMAC-SHA256(TEST_MAC_KEY, container[0:2] + container[4:-10])[:6]`` — every container byte except its
CRC field and the trailer. The container CRC is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no
reflection, xorout 0) over ``container[0:2] + container[4:]``, computed after the MAC is in place.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from datetime import UTC, datetime

SIGNATURE = b"\x2a\x08\x41\x0a"
S_VERSION = b"\x81\xa2"
P_VERSION = b"\x01\x20"  # FFD 1.2, as in the captured FN message
FLAGS = 0x0014  # what real FNs send (Mcublog/ofd capture): no CRC, container present, answer expected
SESSION_LEN = 30
CONTAINER_HEADER_LEN = 32
TRAILER_LEN = 10
MSG_FN_TO_OFD = 0xA5
MSG_OFD_TO_FN = 0x5A
DOC_OPERATOR_TICKET = 7
TRAILER_TAG = {MSG_FN_TO_OFD: 0x81, MSG_OFD_TO_FN: 0x82}
TEST_MAC_KEY = b"kkt-adapter emulator OFD test key"
MAC_LEN = 6

TAG_FD = 1040
TAG_FN = 1041
TAG_UNIXTIME = 1012
TAG_FISCAL_SIGN = 1077
TAG_PADDING = 1192  # "additional receipt attribute": carries the padding of the changed-length fault


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE, bit by bit (check value of ``b"123456789"``: 0x29B1)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def container_crc(container: bytes) -> int:
    """The CRC field a container must carry."""
    return crc16_ccitt_false(container[0:2] + container[4:])


def mac(container: bytes, key: bytes = TEST_MAC_KEY) -> bytes:
    """The emulator's 6-byte MAC of a whole container (its MAC and CRC fields are not covered)."""
    return hmac.new(key, container[0:2] + container[4:-TRAILER_LEN], hashlib.sha256).digest()[:MAC_LEN]


def bcd(fn_serial: str) -> bytes:
    """16 decimal digits as 8 bytes of packed BCD."""
    return bytes.fromhex(fn_serial)


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack("<HH", tag, len(value)) + value


def container(msg_type: int, doc_type: int, fn_serial: str, fd_number: int, body: bytes, key: bytes) -> bytes:
    """A whole container: header, ``body``, trailer with the MAC, CRC filled in last."""
    length = CONTAINER_HEADER_LEN + len(body) + TRAILER_LEN
    head = struct.pack("<HHBBB", length, 0, msg_type, doc_type, 1) + b"\x10\x09" + bcd(fn_serial)
    head += fd_number.to_bytes(3, "big") + bytes(12)
    draft = head + body + bytes([TRAILER_TAG[msg_type], MAC_LEN]) + bytes(MAC_LEN) + b"\x00\x00"
    signed = draft[:-8] + mac(draft, key) + b"\x00\x00"
    return signed[:2] + struct.pack("<H", container_crc(signed)) + signed[4:]


def session(fn_serial: str, payload: bytes) -> bytes:
    """The 30-byte session header in front of ``payload`` (a container)."""
    head = SIGNATURE + S_VERSION + P_VERSION + fn_serial.encode("ascii")
    return head + struct.pack("<HHH", len(payload), FLAGS, 0) + payload


def fn_message(
    fn_serial: str, fd_number: int, doc_type: int, at: datetime, fiscal_sign: int, padding: int = 0
) -> bytes:
    """The message an FN hands out for one of its documents (``padding`` extra bytes: the length fault)."""
    unixtime = int(at.replace(tzinfo=UTC).timestamp())
    fields = tlv(TAG_FD, fd_number.to_bytes(4, "little")) + tlv(TAG_FN, fn_serial.encode("ascii"))
    fields += tlv(TAG_UNIXTIME, unixtime.to_bytes(4, "little")) + tlv(TAG_FISCAL_SIGN, fiscal_sign.to_bytes(6, "big"))
    if padding:
        fields += tlv(TAG_PADDING, b" " * padding)
    body = tlv(doc_type, fields)
    return session(fn_serial, container(MSG_FN_TO_OFD, doc_type, fn_serial, fd_number, body, TEST_MAC_KEY))


def ofd_ticket(fn_serial: str, fd_number: int, at: datetime, key: bytes = TEST_MAC_KEY) -> bytes:
    """A ticket this emulator's FN accepts for ``fd_number`` (a test tool: the OFD simulator has its own)."""
    unixtime = int(at.replace(tzinfo=UTC).timestamp())
    fields = tlv(TAG_FN, fn_serial.encode("ascii")) + tlv(TAG_FD, fd_number.to_bytes(4, "little"))
    fields += tlv(TAG_UNIXTIME, unixtime.to_bytes(4, "little")) + tlv(1068, tlv(1022, b"\x00"))
    body = tlv(DOC_OPERATOR_TICKET, fields)
    return session(fn_serial, container(MSG_OFD_TO_FN, DOC_OPERATOR_TICKET, fn_serial, fd_number, body, key))
