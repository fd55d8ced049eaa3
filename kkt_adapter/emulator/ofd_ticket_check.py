"""How the emulated FN checks an OFD answer written into it (FF32/FF33), in the FN's order.

The checks, first failure wins (the codes are the FN's, javapos ``res/messages_ru.txt``; which code a real
FN gives for which failure is not published: these are the emulator's choice, ``docs/emulator.md``)::

    1 signature 2A 08 41 0A, S-version 81 A2, lengths add up   01h bad format
    2 FN serial (session header ASCII and container BCD)       20h message from the OFD cannot be accepted
    3 container CRC (CRC-16/CCITT-FALSE)                       20h
    4 message type 5A (OFD → FN)                               20h
    5 FD number = the head of the FN's OFD queue               20h (08h when the queue is empty)
    6 the MAC (the emulator's test key)                        04h "Ошибка КС" (crypto check failed)

The body is not read beyond the MAC: an OFD answer code inside it is the host's business.
"""

from __future__ import annotations

import hmac
import struct
from dataclasses import dataclass

from kkt_adapter.emulator import ofd_message as m

FN_BAD_FORMAT = 0x01
FN_CRYPTO = 0x04
FN_NO_DATA = 0x08
FN_OFD_MESSAGE_REFUSED = 0x20


class TicketRefused(Exception):
    """The FN does not accept the answer: ``code`` is its error byte, ``check`` the step that failed."""

    def __init__(self, code: int, check: str, reason: str) -> None:
        super().__init__(f"FN {code:02X}h ({check}): {reason}")
        self.code = code
        self.check = check
        self.reason = reason


@dataclass(frozen=True)
class AcceptedTicket:
    """A ticket the FN took: for which document, and its MAC (kept as the document's OFD signature)."""

    fd_number: int
    mac: bytes


def check_ticket(answer: bytes, fn_serial: str, head_fd: int | None) -> AcceptedTicket:
    """Check ``answer`` (session header + container) against this FN and its queue head; raise
    :class:`TicketRefused` at the first failing step of the module's table."""
    container = _framing(answer)
    if answer[8 : m.SESSION_LEN - 6] != fn_serial.encode("ascii") or container[9:17] != m.bcd(fn_serial):
        raise TicketRefused(FN_OFD_MESSAGE_REFUSED, "fn_serial", "the answer is for another FN")
    crc = struct.unpack_from("<H", container, 2)[0]
    if crc != m.container_crc(container):
        raise TicketRefused(FN_OFD_MESSAGE_REFUSED, "crc", f"container CRC {crc:04X} does not match its bytes")
    if container[4] != m.MSG_OFD_TO_FN:
        raise TicketRefused(FN_OFD_MESSAGE_REFUSED, "msg_type", f"message type {container[4]:02X}, not 5A")
    fd_number = int.from_bytes(container[17:20], "big")
    if head_fd is None:
        raise TicketRefused(FN_NO_DATA, "fd_number", "no document waits for a ticket")
    if fd_number != head_fd:
        raise TicketRefused(
            FN_OFD_MESSAGE_REFUSED, "fd_number", f"ticket for FD {fd_number}, the FN waits for {head_fd}"
        )
    given = container[-8:-2]
    if not hmac.compare_digest(given, m.mac(container)):
        raise TicketRefused(FN_CRYPTO, "mac", "the ticket's MAC does not verify")
    return AcceptedTicket(fd_number, bytes(given))


def _framing(answer: bytes) -> bytes:
    """Step 1: the container inside a well-framed answer."""
    if len(answer) < m.SESSION_LEN or answer[0:4] != m.SIGNATURE or answer[4:6] != m.S_VERSION:
        raise TicketRefused(FN_BAD_FORMAT, "signature", "no session header signature 2A 08 41 0A / 81 A2")
    body_length = struct.unpack_from("<H", answer, 24)[0]
    container = answer[m.SESSION_LEN :]
    if body_length != len(container) or len(container) < m.CONTAINER_HEADER_LEN + m.TRAILER_LEN:
        raise TicketRefused(
            FN_BAD_FORMAT, "length", f"session header says {body_length} bytes, {len(container)} follow"
        )
    if struct.unpack_from("<H", container, 0)[0] != len(container):
        raise TicketRefused(FN_BAD_FORMAT, "length", "the container's length field does not match its size")
    return container
