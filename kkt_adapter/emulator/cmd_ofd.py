"""The host-relayed OFD exchange: FF30/FF31 read the FN's message, FF32/FF33 write the OFD's answer.

Layouts (javapos_shtrih ``FSReadBufferStatus``/``FSReadBlock``/``FSStartWriteBlock``/``FSWriteBlock`` and
their tests; every request starts with the system administrator's password, u32 LE)::

    FF30 ()                          → size u16, maxBlock u8   (size 0: nothing to send)
    FF31 offset u16, count u8        → data[count]
    FF32 total u16                   → maxBlock u8
    FF33 offset u16, len u8, data    → ()

The message is the head document's (:mod:`.ofd_queue`); reading does not remove it. The answer is taken
when its last byte arrives; the FF33 that completes it carries the FN's verdict (:mod:`.ofd_ticket_check`).

Errors: a malformed request, a block beyond the message or the answer → 01h; FF33 with no answer begun →
02h; FF31 with nothing to send → 08h; a refused ticket → its code. Faults (:class:`~.faults.Faults`):
``ofd_length_change`` (one-shot: the next FF31 finds the head message longer than FF30 said),
``refuse_ticket_code`` (every ticket refused with that code), ``ofd_delay_ms`` (applied by the emulator).
"""

from __future__ import annotations

from kkt_adapter.emulator import ofd_queue
from kkt_adapter.emulator.layout import le
from kkt_adapter.emulator.model import Device
from kkt_adapter.emulator.ofd_ticket_check import TicketRefused
from kkt_adapter.emulator.wire import FN_BAD_FORMAT, FN_NO_DATA, FN_WRONG_STATE, CommandError, Params

READ_BLOCK = 0xF0  # FF30's maxBlock, as in the vendor's test vector (FF 30 00 4E 01 F0)
WRITE_BLOCK = 0x40  # FF32's maxBlock: no source gives a real FN's; small, so a ticket takes several FF33


def read_status(dev: Device, _params: Params) -> bytes:
    """FF30: the size of the head message and the block size to read it with."""
    size = len(ofd_queue.current_message(dev.state, dev.ofd))
    return le(size, 2) + bytes([READ_BLOCK])


def read_block(dev: Device, params: Params) -> bytes:
    """FF31: ``count`` bytes of the head message from ``offset``."""
    offset, count = _uint(params, 2), _uint(params, 1)
    if dev.faults.ofd_length_change:
        dev.faults.ofd_length_change = False
        ofd_queue.grow_head(dev.state, dev.ofd)
    message = ofd_queue.current_message(dev.state, dev.ofd)
    if not message:
        raise CommandError(FN_NO_DATA)
    if not 1 <= count <= READ_BLOCK or offset + count > len(message):
        raise CommandError(FN_BAD_FORMAT)
    return message[offset : offset + count]


def begin_answer(dev: Device, params: Params) -> bytes:
    """FF32: start an answer of ``total`` bytes (a new FF32 discards one not finished)."""
    total = _uint(params, 2)
    if total == 0:
        raise CommandError(FN_BAD_FORMAT)
    ofd = dev.ofd
    ofd.answer_size, ofd.answer, ofd.filled = total, bytearray(total), 0
    return bytes([WRITE_BLOCK])


def write_block(dev: Device, params: Params) -> bytes:
    """FF33: a block at or before the end of what is written (a repeated block is accepted); the block
    that completes the answer has the FN check and take it."""
    ofd = dev.ofd
    if ofd.answer_size == 0:
        raise CommandError(FN_WRONG_STATE)
    offset, length = _uint(params, 2), _uint(params, 1)
    data = params.rest()
    if (
        not 1 <= length <= WRITE_BLOCK
        or len(data) != length
        or offset > ofd.filled
        or offset + length > ofd.answer_size
    ):
        raise CommandError(FN_BAD_FORMAT)
    ofd.answer[offset : offset + length] = data
    ofd.filled = max(ofd.filled, offset + length)
    if ofd.filled < ofd.answer_size:
        return b""
    answer = bytes(ofd.answer)
    ofd.answer_size, ofd.answer, ofd.filled = 0, bytearray(), 0
    try:
        ofd_queue.take_ticket(dev.state, ofd, answer, dev.now, dev.faults.refuse_ticket_code)
    except TicketRefused as exc:
        raise CommandError(exc.code) from None
    dev.touch()
    return b""


def _uint(params: Params, size: int) -> int:
    """A field of the request; a short request is a bad format (01h) for an FN command, not 33h."""
    try:
        return params.uint(size)
    except CommandError:
        raise CommandError(FN_BAD_FORMAT) from None
