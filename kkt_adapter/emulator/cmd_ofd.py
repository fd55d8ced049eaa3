"""Host-relayed OFD answers: FF32 (start writing an answer) and FF33 (write a block of it).

A KKT without its own network gets the OFD's confirmation of a document through the host, which writes
it into the FN. The emulator's answer is our container (``docs/export-api.md``): ``fd_number(4 LE)`` + the
OFD's ticket id in printable ASCII (1…64 bytes). When the last byte arrives, the document is confirmed
exactly as ``Emulator.ofd_ack`` confirms one: it leaves the FF39/FF3F queue and FF3C returns a ticket.

Errors (FN codes): a malformed request or container → 0x01; FF33 with no answer started → 0x02; an FD
the archive does not have → 0x08; an FD already confirmed → 0x02. The error of a bad container or FD
is the answer to the FF33 that completed it; the started answer is then discarded.
"""

from __future__ import annotations

from kkt_adapter.emulator.model import Device, OfdAnswerBuffer
from kkt_adapter.emulator.wire import FN_BAD_FORMAT, FN_NO_DATA, FN_WRONG_STATE, CommandError, Params

OFD_TICKET_MAX_BYTES = 64  # our container's ticket id: 1…64 printable ASCII bytes (docs/ofd-api.md)
BLOCK_SIZE = 32  # the FF32 answer: small, so a ticket of more than 28 characters takes several FF33 blocks
FD_BYTES = 4
MAX_ANSWER = FD_BYTES + OFD_TICKET_MAX_BYTES


def begin_answer(dev: Device, params: Params) -> bytes:
    """FF32 ``size(2)`` → ``blockSize(1)``; a new FF32 discards an answer not finished."""
    size = _uint(params, 2)
    if not FD_BYTES < size <= MAX_ANSWER:
        raise CommandError(FN_BAD_FORMAT)
    dev.ofd_answer = OfdAnswerBuffer(size, bytearray(size))
    return bytes([BLOCK_SIZE])


def write_block(dev: Device, params: Params) -> bytes:
    """FF33 ``offset(2) len(1) data``: a block at or before the end of what is written (a repeated block
    is accepted); the block that completes the answer applies it."""
    answer = dev.ofd_answer
    if answer is None:
        raise CommandError(FN_WRONG_STATE)
    offset, length = _uint(params, 2), _uint(params, 1)
    data = params.rest()
    if not 1 <= length <= BLOCK_SIZE or len(data) != length or offset > answer.filled or offset + length > answer.size:
        raise CommandError(FN_BAD_FORMAT)
    answer.data[offset : offset + length] = data
    answer.filled = max(answer.filled, offset + length)
    if answer.filled == answer.size:
        dev.ofd_answer = None
        _apply(dev, bytes(answer.data))
    return b""


def _apply(dev: Device, answer: bytes) -> None:
    fd_number = int.from_bytes(answer[:FD_BYTES], "little")
    try:
        ticket = answer[FD_BYTES:].decode("ascii")
    except UnicodeDecodeError:
        raise CommandError(FN_BAD_FORMAT) from None
    if not ticket.isprintable():
        raise CommandError(FN_BAD_FORMAT)
    doc = dev.state.find(fd_number)
    if doc is None:
        raise CommandError(FN_NO_DATA)
    if doc.ticket_received:
        raise CommandError(FN_WRONG_STATE)
    doc.ticket_at, doc.ofd_ticket = dev.now, ticket
    dev.touch()


def _uint(params: Params, size: int) -> int:
    """A field of the request; a short request is a bad format (0x01) for an FN command, not 0x33."""
    try:
        return params.uint(size)
    except CommandError:
        raise CommandError(FN_BAD_FORMAT) from None
