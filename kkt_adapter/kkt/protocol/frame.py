"""Link-layer frames of the Shtrih-M standard protocol ("v1"): ``STX LEN BODY LRC``.

LEN counts the body bytes (command code(s) + data, 1…255); LRC is the XOR of LEN and every body byte.
"""

from __future__ import annotations

from kkt_adapter.kkt.errors import ProtocolError

STX = 0x02
ENQ = 0x05
ACK = 0x06
NAK = 0x15
MAX_BODY = 255


def lrc(data: bytes) -> int:
    """XOR of every byte of ``data`` (pass LEN + BODY)."""
    value = 0
    for byte in data:
        value ^= byte
    return value


def encode_frame(body: bytes) -> bytes:
    """Wrap ``body`` into ``STX LEN BODY LRC``."""
    if not 1 <= len(body) <= MAX_BODY:
        raise ProtocolError(f"frame body must be 1…{MAX_BODY} bytes, got {len(body)}")
    head = bytes([len(body)]) + body
    return bytes([STX]) + head + bytes([lrc(head)])


def decode_frame(frame: bytes) -> bytes:
    """Return the body of a complete frame; raise :class:`ProtocolError` on a bad STX, length or LRC."""
    if len(frame) < 4 or frame[0] != STX:
        raise ProtocolError("not a frame: missing STX or too short")
    length = frame[1]
    if len(frame) != length + 3:
        raise ProtocolError(f"frame length {len(frame)} does not match LEN {length}")
    if lrc(frame[1:-1]) != frame[-1]:
        raise ProtocolError("bad LRC")
    return frame[2:-1]


def command_code(body: bytes) -> int:
    """The command code at the start of a body: one byte, or two (``FF xx`` → ``0xFFxx``)."""
    if not body:
        raise ProtocolError("empty body")
    if body[0] == 0xFF:
        if len(body) < 2:
            raise ProtocolError("FF prefix without a command byte")
        return 0xFF00 | body[1]
    return body[0]


def code_bytes(command: int) -> bytes:
    """The wire bytes of a command code (``0xFF46`` → ``FF 46``)."""
    return command.to_bytes(2, "big") if command > 0xFF else bytes([command])
