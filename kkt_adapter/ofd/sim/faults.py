"""The simulator's fault switch (set through its control API) and how each fault bends one answer."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from kkt_adapter.ofd.sim import frames


class Fault(StrEnum):
    """What the next connections get instead of a clean ticket."""

    NONE = "none"
    REFUSE = "refuse"  # the port stops listening: connections are refused
    STALL = "stall"  # accept, read, never answer (past any client timeout)
    HEADER_ONLY = "header_only"  # a session header announcing no container
    BAD_SIGNATURE = "bad_signature"  # session signature 2A 08 41 0B
    WRONG_FN = "wrong_fn"  # a signed ticket for another FN
    WRONG_FD = "wrong_fd"  # a signed ticket for the next FD
    BAD_CRC = "bad_crc"  # the container CRC off by one
    BAD_MAC = "bad_mac"  # a MAC that does not verify (CRC right): only the FN can tell
    OFD_CODE = "ofd_code"  # a signed ticket whose answer code (tag 1022) is not 0
    SPLIT = "split"  # a clean ticket written one byte at a time
    CLOSE_MID_BODY = "close_mid_body"  # the header and half the container, then close


class Faults(BaseModel):
    """The switch: ``fault`` for the next ``count`` messages (None: until changed); ``delay_s`` before any
    answer (a slow OFD, for the kill -9 proof to land mid-exchange)."""

    model_config = ConfigDict(extra="forbid")

    fault: Fault = Fault.NONE
    count: int | None = Field(default=None, ge=1)
    ofd_code: int = Field(default=14, ge=1, le=255)
    stall_s: float = Field(default=3600.0, gt=0, le=86_400)
    delay_s: float = Field(default=0.0, ge=0, le=600, description="wait this long before every answer")


def other_fn(serial: str) -> str:
    """Another 16-digit FN serial (last digit changed)."""
    return serial[:-1] + str((int(serial[-1]) + 1) % 10)


def answer(fault: Fault, msg: frames.Incoming, unixtime: int, key: bytes, ofd_code: int) -> bytes:
    """The bytes to send back for ``msg`` under ``fault`` (STALL, REFUSE and NONE: a clean ticket)."""
    if fault is Fault.HEADER_ONLY:
        return frames.session(msg.p_version, msg.fn_serial, b"", flags=0x0010)
    if fault is Fault.WRONG_FN:
        return frames.ticket(frames.Incoming(msg.p_version, other_fn(msg.fn_serial), msg.service, msg.fd_number,
                                             msg.doc_type), unixtime, key)  # fmt: skip
    if fault is Fault.WRONG_FD:
        moved = frames.Incoming(msg.p_version, msg.fn_serial, msg.service, msg.fd_number + 1, msg.doc_type)
        return frames.ticket(moved, unixtime, key)
    if fault is Fault.OFD_CODE:
        return frames.ticket(msg, unixtime, key, code=ofd_code)
    clean = frames.ticket(msg, unixtime, key)
    if fault is Fault.BAD_SIGNATURE:
        return clean[:3] + b"\x0b" + clean[4:]
    if fault is Fault.BAD_CRC:
        at = frames.SESSION_LEN + 2
        return clean[:at] + bytes([clean[at] ^ 0x01]) + clean[at + 1 :]
    if fault is Fault.BAD_MAC:
        container = bytearray(clean[frames.SESSION_LEN :])
        container[-8] ^= 0xFF
        resigned = container[:2] + frames.crc16(bytes(container[0:2] + container[4:])).to_bytes(2, "little")
        return clean[: frames.SESSION_LEN] + bytes(resigned) + bytes(container[4:])
    return clean
