"""Shift and printer commands: open shift (E0h), X/Z reports (40h/41h), print line (17h), feed (29h),
cut (25h), continue printing (B0h), cash in/out (50h/51h), settlement report (FF37/FF38).

Under the 30-day OFD block the Z report stays allowed (an emulator choice, so a blocked shop can
still close its shift); every other document-creating FN command is refused.
"""

from __future__ import annotations

from kkt_adapter.emulator import fn
from kkt_adapter.emulator.layout import fn_date, le
from kkt_adapter.emulator.model import Device
from kkt_adapter.emulator.state import DOC_SETTLEMENT_REPORT, DOC_SHIFT_CLOSE, DOC_SHIFT_OPEN
from kkt_adapter.emulator.wire import E_NO_CASH, E_NO_PAPER, E_SHIFT_24H, CommandError, Params


def open_shift(dev: Device, _p: Params) -> bytes:
    """E0h: open the next shift; signs a shift-open report (document type 2)."""
    dev.need_printer()
    dev.need_no_receipt()
    dev.need_fn_unblocked()
    if dev.shift_expired():
        raise CommandError(E_SHIFT_24H)
    dev.need_mode(not dev.state.shift_open)
    st = dev.state
    st.shift_number += 1
    st.shift_open, st.shift_opened_at, st.receipts_in_shift = True, dev.now, 0
    st.kkt_doc_no += 1
    fn.sign_document(st, DOC_SHIFT_OPEN, dev.now)
    dev.touch()
    dev.printed(6)
    return b""


def x_report(dev: Device, _p: Params) -> bytes:
    """40h: print the X report (no FN document)."""
    dev.need_printer()
    dev.need_no_receipt()
    dev.state.kkt_doc_no += 1
    dev.touch()
    dev.printed(20)
    return bytes([dev.operator])


def z_report(dev: Device, _p: Params) -> bytes:
    """41h: close the shift, also after 24 h; signs a shift-close report (document type 5)."""
    dev.need_printer()
    dev.need_no_receipt()
    dev.need_mode(dev.state.shift_open)
    st = dev.state
    fn.sign_document(st, DOC_SHIFT_CLOSE, dev.now)
    st.shift_open, st.shift_opened_at = False, None
    st.kkt_doc_no += 1
    dev.touch()
    dev.printed(24)
    return bytes([dev.operator])


def print_line(dev: Device, params: Params) -> bytes:
    """17h: flags + text (any length)."""
    params.uint(1)
    params.rest()
    dev.need_printer()
    dev.printed(1)
    return bytes([dev.operator])


def feed(dev: Device, params: Params) -> bytes:
    """29h: flags + number of lines."""
    params.uint(1)
    lines = params.uint(1)
    dev.need_printer()
    dev.printed(lines)
    return bytes([dev.operator])


def cut(dev: Device, params: Params) -> bytes:
    """25h: cut type (0 full, 1 partial)."""
    dev.need(params.uint(1) in (0, 1))
    dev.need_printer()
    return bytes([dev.operator])


def continue_printing(dev: Device, _p: Params) -> bytes:
    """B0h: finish the interrupted paper copy; 0x6B while there is no paper; a no-op otherwise."""
    if dev.faults.paper_out:
        raise CommandError(E_NO_PAPER)
    if dev.state.print_interrupted:
        dev.state.print_interrupted = False
        dev.touch()
        dev.printed(8)
    return bytes([dev.operator])


def _cash(dev: Device, params: Params, sign: int) -> bytes:
    amount = params.uint(5)
    dev.need(amount > 0)
    dev.need_printer()
    dev.need_no_receipt()
    dev.need_open_shift()
    if dev.state.cash_kop + sign * amount < 0:
        raise CommandError(E_NO_CASH)
    dev.state.cash_kop += sign * amount
    dev.state.kkt_doc_no += 1
    dev.touch()
    dev.printed(6)
    return bytes([dev.operator]) + le(dev.state.kkt_doc_no & 0xFFFF, 2)


def cash_in(dev: Device, params: Params) -> bytes:
    """50h: cash in (not an FN document) → operator, document number."""
    return _cash(dev, params, 1)


def cash_out(dev: Device, params: Params) -> bytes:
    """51h: cash out; 0x46 when the drawer holds less."""
    return _cash(dev, params, -1)


def settlement_begin(dev: Device, _p: Params) -> bytes:
    """FF37: begin the settlement-state report (no state; FF38 works without it too)."""
    dev.need_no_receipt()
    return b""


def settlement_report(dev: Device, _p: Params) -> bytes:
    """FF38: sign the report (type 21) → FD, sign, unconfirmed count and first date before this report."""
    dev.need_printer()
    dev.need_no_receipt()
    dev.need_fn_unblocked()
    st = dev.state
    queue = st.unconfirmed()
    first = fn_date(queue[0].at.date()) if queue else b"\x00" * 3
    doc = fn.sign_document(st, DOC_SETTLEMENT_REPORT, dev.now)
    st.kkt_doc_no += 1
    dev.touch()
    dev.printed(10)
    return le(doc.fd_number, 4) + le(doc.fiscal_sign, 4) + le(len(queue), 4) + first
