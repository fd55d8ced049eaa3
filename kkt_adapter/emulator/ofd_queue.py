"""The emulated FN's OFD queue as the host relays it: the message of the head document, tickets taken in.

One message per document without a ticket (shift open/close, receipts, reports: every document), in FD
order; the FN hands out the head of the queue (FF30/FF31) until a valid ticket for it is written
(FF32/FF33, checked by :mod:`.ofd_ticket_check`), then the next. Only a valid ticket pops the queue.
Pure functions of an :class:`~.state.EmulatorState`, the volatile :class:`OfdExchange` and ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from kkt_adapter.emulator import fn
from kkt_adapter.emulator import ofd_message as m
from kkt_adapter.emulator.ofd_ticket_check import TicketRefused, check_ticket
from kkt_adapter.emulator.state import EmulatorState, FnDocument

LENGTH_FAULT_BYTES = 16  # what the "message length changes" fault adds to the head message


@dataclass
class OfdExchange:
    """What the FN holds between commands, lost on restart like the FN's own buffers."""

    padding: dict[int, int] = field(default_factory=dict)  # FD → extra bytes (the length fault)
    answer_size: int = 0  # FF32's total; 0 = no answer being written
    answer: bytearray = field(default_factory=bytearray)
    filled: int = 0
    last_refusal: dict[str, object] | None = None  # code, check, reason of the last refused ticket
    tickets_taken: int = 0
    tickets_refused: int = 0


def head(state: EmulatorState) -> FnDocument | None:
    """The document the FN hands out now: the oldest one without a ticket."""
    return fn.oldest_unconfirmed(state)


def message_of(state: EmulatorState, exchange: OfdExchange, doc: FnDocument) -> bytes:
    """The whole message (session header + container) of ``doc``."""
    cfg = state.config
    padding = exchange.padding.get(doc.fd_number, 0)
    return m.fn_message(cfg.fn_serial, doc.fd_number, doc.doc_type, doc.at, doc.fiscal_sign, padding)


def current_message(state: EmulatorState, exchange: OfdExchange) -> bytes:
    """The head document's message, or ``b""`` when every document has its ticket."""
    doc = head(state)
    return b"" if doc is None else message_of(state, exchange, doc)


def grow_head(state: EmulatorState, exchange: OfdExchange) -> None:
    """The length fault: the head message is rebuilt longer (its FD stays the same)."""
    doc = head(state)
    if doc is not None:
        exchange.padding[doc.fd_number] = exchange.padding.get(doc.fd_number, 0) + LENGTH_FAULT_BYTES


def take_ticket(state: EmulatorState, exchange: OfdExchange, answer: bytes, now: datetime, refuse_code: int) -> None:
    """Check ``answer`` in the FN's order and, when valid, record the ticket: the head leaves the queue.

    Raises :class:`TicketRefused` (the queue is unchanged); ``refuse_code`` non-zero refuses every
    ticket with that code after the checks (the "FN refuses a ticket" fault)."""
    doc = head(state)
    try:
        accepted = check_ticket(answer, state.config.fn_serial, None if doc is None else doc.fd_number)
        if refuse_code:
            raise TicketRefused(refuse_code, "fault", "the FN refuses tickets (fault switch refuse_ticket_code)")
    except TicketRefused as exc:
        exchange.last_refusal = {"code": exc.code, "check": exc.check, "reason": exc.reason}
        exchange.tickets_refused += 1
        raise
    assert doc is not None  # noqa: S101 — check_ticket refuses when the queue is empty
    doc.ticket_at, doc.ofd_ticket = now, accepted.mac.hex()
    exchange.padding.pop(doc.fd_number, None)
    exchange.tickets_taken += 1
