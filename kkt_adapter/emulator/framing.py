"""The emulator's own reading of the Shtrih-M link frame and command code (device side).

Written from ПротоколККТ 2.0 «Общие положения» (javapos ``Doc/SHTRIH/ПротоколККТ_2.0_11_asemenov_rev1.docx``),
not from the client: a frame is ``STX LEN BODY LRC``; LEN counts the body (1…255); LRC is the XOR of
LEN and every body byte. A body starts with the command code: one byte, or ``FF xx`` for the FN
commands. The emulator shares no code with the driver it tests (``pyproject.toml`` import contracts).
"""

from __future__ import annotations

from functools import reduce

STX = 0x02
ENQ = 0x05
ACK = 0x06
NAK = 0x15
FN_PREFIX = 0xFF


def lrc(data: bytes) -> int:
    """XOR of every byte of ``data`` (LEN + BODY)."""
    return reduce(lambda acc, byte: acc ^ byte, data, 0)


def frame(body: bytes) -> bytes:
    """``STX LEN BODY LRC`` around an answer body (answers are never longer than 255 bytes)."""
    head = bytes([len(body)]) + body
    return bytes([STX]) + head + bytes([lrc(head)])


def split_code(body: bytes) -> tuple[bytes, bytes] | None:
    """``(code bytes, the rest)`` of a request body; ``None`` when no command code is there."""
    size = 2 if body[:1] == bytes([FN_PREFIX]) else 1
    if len(body) < size:
        return None
    return body[:size], body[size:]


def code_value(code: bytes) -> int:
    """The command number of its code bytes (``FF 46`` → ``0xFF46``), as the handler table keys it."""
    return int.from_bytes(code, "big")
