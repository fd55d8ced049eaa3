"""The JSON view of the emulator that ``GET /state`` returns (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kkt_adapter.emulator import fn, ofd_queue
from kkt_adapter.emulator.model import Device
from kkt_adapter.emulator.state import FnDocument, ReceiptLine
from kkt_adapter.emulator.tax_table import ROWS


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def document_json(doc: FnDocument) -> dict[str, Any]:
    """One archive entry."""
    return {
        "fd_number": doc.fd_number,
        "doc_type": doc.doc_type,
        "at": _iso(doc.at),
        "fiscal_sign": doc.fiscal_sign,
        "shift_number": doc.shift_number,
        "operation": doc.operation,
        "sum_kop": doc.sum_kop,
        "ticket_received": doc.ticket_received,
        "ticket_at": _iso(doc.ticket_at),
        "ofd_ticket": doc.ofd_ticket,
        "lines": [line_json(line) for line in doc.lines],
    }


def line_json(line: ReceiptLine) -> dict[str, Any]:
    """One signed receipt line: name, amounts, the tax byte sent and the rate the FN got (row, tag 1199)."""
    row = ROWS.get(line.row)
    return {
        "name": line.name,
        "quantity_micro": line.quantity_micro,
        "price_kop": line.price_kop,
        "sum_kop": line.sum_kop,
        "tax_byte": line.tax,
        "row": line.row,
        "rate": row.name if row else None,
        "tag_1199": row.tag_1199 if row else None,
        "measure": line.measure,
    }


def snapshot(dev: Device, now: datetime, port_present: bool, pty_name: str) -> dict[str, Any]:
    """Mode, sub-mode, shift, FN counters, archive, OFD queue, faults and port of the device at ``now``."""
    st = dev.state
    dev.now = now
    queue = st.unconfirmed()
    receipt = st.receipt
    return {
        "now": _iso(now),
        "clock_offset_s": st.clock_offset_s,
        "mode": dev.mode_byte() & 0x0F,
        "mode_status": dev.mode_byte() >> 4,
        "sub_mode": int(dev.sub_mode()),
        "shift": {
            "number": st.shift_number,
            "open": st.shift_open,
            "opened_at": _iso(st.shift_opened_at),
            "expired": dev.shift_expired(),
            "receipts": st.receipts_in_shift,
        },
        "receipt": None
        if receipt is None
        else {"type": receipt.receipt_type, "lines": len(receipt.lines), "total_kop": receipt.total_kop},
        "print_interrupted": st.print_interrupted,
        "cash_kop": st.cash_kop,
        "kkt_doc_no": st.kkt_doc_no,
        "fn": {
            "serial": st.config.fn_serial,
            "registration_number": st.config.registration_number,
            "last_fd": st.last_fd,
            "expires_on": st.fn_expires_on.isoformat(),
            "warnings": fn.warning_bits(st, now),
            "blocked": fn.is_blocked(st, now),
        },
        "unsent": {
            "count": len(queue),
            "first_fd": queue[0].fd_number if queue else None,
            "first_at": _iso(queue[0].at) if queue else None,
        },
        "ofd_relay": {
            "message_bytes": len(ofd_queue.current_message(st, dev.ofd)),
            "tickets_taken": dev.ofd.tickets_taken,
            "tickets_refused": dev.ofd.tickets_refused,
            "last_refusal": dev.ofd.last_refusal,
        },
        "archive": [document_json(doc) for doc in st.documents],
        "faults": dev.faults.as_dict(),
        "port": {"present": port_present, "pty": pty_name if port_present else None},
    }
