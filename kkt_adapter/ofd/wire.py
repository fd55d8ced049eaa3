"""The FN↔OFD transport message: parse it, check its CRC, and decide whether an OFD answer is a ticket.

A message is a 30-byte session header followed by at most one container (sources: yandex/ofd
``ofd/protocol.py`` ``SessionHeader``/``FrameHeader``; Mcublog/ofd ``tests/emu_test.py`` captured bytes)::

    session header  <IHH16sHHH   signature 2A 08 41 0A | S-version 81 A2 | P-version (2 bytes)
                                 | FN serial, 16 ASCII digits | body length u16 LE (the container, without
                                 these 30 bytes) | flags u16 LE (real FNs: 0x0014) | CRC u16 (real FNs: 0)
    container header <HHBBB2s8s3s12s  length u16 LE (whole container) | CRC u16 LE | message type
                                 (0xA5 FN→OFD, 0x5A OFD→FN) | document type | version | 2 bytes
                                 | FN number, 8 bytes BCD | FD number, 3 bytes big-endian | 12 bytes
    body                         TLV (tag u16 LE, length u16 LE, value), possibly encrypted

The container CRC is CRC-16/CCITT-FALSE over ``container[0:2] + container[4:]``. The host relays the FN's
bytes unchanged and never builds a message: this module only reads them.

Errors (one tree, every one carries a ``fault`` and a human ``reason``)::

    OfdWireError             the bytes are not what they must be (fault says which check failed)
    └── OfdAnswerCode        a well-formed ticket whose OFD answer code (tag 1022) is not 0

Pure functions of their inputs; no I/O.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from kkt_adapter.errors import AdapterError

SESSION_HEADER = struct.Struct("<IHH16sHHH")
CONTAINER_HEADER = struct.Struct("<HHBBB2s8s3s12s")
SESSION_HEADER_LEN = SESSION_HEADER.size  # 30
CONTAINER_HEADER_LEN = CONTAINER_HEADER.size  # 32
MAX_MESSAGE_LEN = SESSION_HEADER_LEN + 0xFFFF

SIGNATURE = bytes.fromhex("2A08410A")
S_VERSION = bytes.fromhex("81A2")
MSG_FN_TO_OFD = 0xA5
MSG_OFD_TO_FN = 0x5A
TAG_OPERATOR_TICKET = 7
TAG_MESSAGE_TO_FN = 1068
TAG_OFD_ANSWER_CODE = 1022


class WireFault(enum.StrEnum):
    """Which check a message failed."""

    TRUNCATED = "truncated"
    SIGNATURE = "signature"
    S_VERSION = "s_version"
    FN_SERIAL = "fn_serial"
    BODY_LENGTH = "body_length"
    HEADER_ONLY = "header_only"
    CONTAINER_LENGTH = "container_length"
    CRC = "crc"
    MSG_TYPE = "msg_type"
    FN_NUMBER = "fn_number"
    FD_NUMBER = "fd_number"
    OFD_CODE = "ofd_code"


class OfdWireError(AdapterError):
    """The bytes are not a valid message (or not a valid ticket for the document in hand)."""

    def __init__(self, fault: WireFault, reason: str) -> None:
        super().__init__(f"{fault}: {reason}")
        self.fault = fault
        self.reason = reason


class OfdAnswerCode(OfdWireError):
    """A well-formed ticket carrying a non-zero OFD answer code (tag 1022): the OFD did not accept the FD."""

    def __init__(self, code: int) -> None:
        super().__init__(WireFault.OFD_CODE, f"the OFD answered code {code} (tag 1022) instead of 0")
        self.code = code


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0 (check value of b"123456789": 0x29B1)."""
    crc = 0xFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[(crc >> 8) ^ byte]
    return crc


def container_crc(container: bytes) -> int:
    """The CRC a container's header must carry: over its bytes without the CRC field itself."""
    return crc16_ccitt_false(container[0:2] + container[4:])


@dataclass(frozen=True)
class Container:
    """One container's header fields and body, as read (``fd_number`` decoded from 3 bytes big-endian)."""

    length: int
    crc: int
    msg_type: int
    doc_type: int
    version: int
    fn_number: str
    fd_number: int
    body: bytes


@dataclass(frozen=True)
class OfdMessage:
    """A whole message: the session header's fields plus its container's.

    ``fn_serial`` is the session header's; the container's own BCD FN number must equal it (checked).
    """

    p_version: bytes
    fn_serial: str
    flags: int
    session_crc: int
    container: Container

    @property
    def fd_number(self) -> int:
        return self.container.fd_number

    @property
    def doc_type(self) -> int:
        return self.container.doc_type

    @property
    def msg_type(self) -> int:
        return self.container.msg_type


@dataclass(frozen=True)
class _Session:
    p_version: bytes
    fn_serial: str
    body_length: int
    flags: int
    crc: int


def _bcd(raw: bytes) -> str:
    return raw.hex()


def _parse_session(data: bytes) -> _Session:
    if len(data) < SESSION_HEADER_LEN:
        raise OfdWireError(WireFault.TRUNCATED, f"{len(data)} bytes, a session header needs {SESSION_HEADER_LEN}")
    _sig, _s_ver, _p_ver, serial, body_length, flags, crc = SESSION_HEADER.unpack_from(data)
    if data[0:4] != SIGNATURE:
        raise OfdWireError(WireFault.SIGNATURE, f"signature {data[0:4].hex(' ')}, expected {SIGNATURE.hex(' ')}")
    if data[4:6] != S_VERSION:
        raise OfdWireError(WireFault.S_VERSION, f"S-version {data[4:6].hex(' ')}, expected {S_VERSION.hex(' ')}")
    if not (serial.isascii() and serial.decode("ascii").isdigit()):
        raise OfdWireError(WireFault.FN_SERIAL, f"FN serial {serial!r} is not 16 ASCII digits")
    if body_length != len(data) - SESSION_HEADER_LEN:
        raise OfdWireError(
            WireFault.BODY_LENGTH,
            f"header says {body_length} body bytes, {len(data) - SESSION_HEADER_LEN} follow",
        )
    return _Session(data[6:8], serial.decode("ascii"), body_length, flags, crc)


def parse_container(raw: bytes) -> Container:
    """Read one container (its own length and CRC checked); raises ``OfdWireError`` naming the failed check."""
    if len(raw) < CONTAINER_HEADER_LEN:
        raise OfdWireError(
            WireFault.CONTAINER_LENGTH, f"{len(raw)} bytes, a container header needs {CONTAINER_HEADER_LEN}"
        )
    length, crc, msg_type, doc_type, version, _extra1, fn_bcd, fd_raw, _extra2 = CONTAINER_HEADER.unpack_from(raw)
    if length != len(raw):
        raise OfdWireError(WireFault.CONTAINER_LENGTH, f"container says {length} bytes, {len(raw)} present")
    expected = container_crc(raw)
    if crc != expected:
        raise OfdWireError(WireFault.CRC, f"container CRC {crc:04X}, computed {expected:04X}")
    fd_number = int.from_bytes(fd_raw, "big")
    return Container(length, crc, msg_type, doc_type, version, _bcd(fn_bcd), fd_number, raw[CONTAINER_HEADER_LEN:])


def parse_message(data: bytes) -> OfdMessage:
    """Read a whole message (session header + one container), checking signature, S-version, FN serial,
    body length, container length and CRC, and that both headers name the same FN.

    Raises ``OfdWireError`` (``fault`` names the check; ``HEADER_ONLY`` when no container follows).
    The message type is not checked here: callers expecting one direction check ``msg_type``.
    """
    session = _parse_session(data)
    if session.body_length == 0:
        raise OfdWireError(WireFault.HEADER_ONLY, "a session header with no container")
    container = parse_container(data[SESSION_HEADER_LEN:])
    if container.fn_number != session.fn_serial:
        raise OfdWireError(
            WireFault.FN_NUMBER,
            f"container FN {container.fn_number} differs from the session header's {session.fn_serial}",
        )
    return OfdMessage(session.p_version, session.fn_serial, session.flags, session.crc, container)


def fix_p_version_0102(message: bytes) -> bytes:
    """Some FN firmware writes P-version ``01 02`` where FFD 1.2 means ``01 20``: javapos commit 6d25616b
    (``FSService``, 2022-02-03) rewrites byte 7 to 0x20 when bytes 6–7 are ``01 02`` and the session CRC
    (bytes 28–29) is 0. The same rule, for ``ofd.fix_p_version_0102`` (off by default); anything else is
    returned unchanged."""
    if len(message) >= SESSION_HEADER_LEN and message[6:8] == b"\x01\x02" and message[28:30] == b"\x00\x00":
        return message[:7] + b"\x20" + message[8:]
    return message


def _tlvs(data: bytes) -> dict[int, bytes]:
    """The TLVs of ``data`` by tag (first wins); stops quietly at the first one that does not fit."""
    found: dict[int, bytes] = {}
    pos = 0
    while pos + 4 <= len(data):
        tag, length = struct.unpack_from("<HH", data, pos)
        value = data[pos + 4 : pos + 4 + length]
        if len(value) != length:
            break
        found.setdefault(tag, value)
        pos += 4 + length
    return found


def ofd_answer_code(body: bytes) -> int | None:
    """The OFD answer code (tag 1022 inside 1068 inside tag 7), or None when the body does not carry one
    readably (it may be encrypted or of another shape)."""
    ticket = _tlvs(body).get(TAG_OPERATOR_TICKET)
    if ticket is None:
        return None
    to_fn = _tlvs(ticket).get(TAG_MESSAGE_TO_FN)
    if to_fn is None:
        return None
    code = _tlvs(to_fn).get(TAG_OFD_ANSWER_CODE)
    if not code:
        return None
    return int.from_bytes(code, "little")


def check_ticket(answer: bytes, fn_serial: str, fd_number: int) -> None:
    """Return when ``answer`` is a ticket the FN ``fn_serial`` may be given for document ``fd_number``.

    Checks, in order: signature, S-version, session FN serial, body length, a container present,
    container length, CRC, message type 0x5A, container FN number, FD number, OFD answer code 0 when the
    body carries one readably. Raises ``OfdWireError`` (or ``OfdAnswerCode``) naming the first failure.
    The MAC over the ticket is the FN's to check: the host cannot.
    """
    session = _parse_session(answer)
    if session.fn_serial != fn_serial:
        raise OfdWireError(WireFault.FN_SERIAL, f"answer for FN {session.fn_serial}, expected {fn_serial}")
    if session.body_length == 0:
        raise OfdWireError(WireFault.HEADER_ONLY, "the OFD answered a session header without a ticket container")
    container = parse_container(answer[SESSION_HEADER_LEN:])
    if container.msg_type != MSG_OFD_TO_FN:
        raise OfdWireError(
            WireFault.MSG_TYPE, f"message type {container.msg_type:02X}, a ticket has {MSG_OFD_TO_FN:02X}"
        )
    if container.fn_number != fn_serial:
        raise OfdWireError(WireFault.FN_NUMBER, f"container FN {container.fn_number}, expected {fn_serial}")
    if container.fd_number != fd_number:
        raise OfdWireError(WireFault.FD_NUMBER, f"ticket for FD {container.fd_number}, expected {fd_number}")
    code = ofd_answer_code(container.body)
    if code:
        raise OfdAnswerCode(code)
