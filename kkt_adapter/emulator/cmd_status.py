"""Read-only commands: device type, KKT status, and the FN queries (FF01 FF02 FF03 FF09 FF39 FF3F FF0A FF3C FF40).

Layouts: ``docs/../reference/kkt-protocol.md`` §1.6; each handler returns the answer bytes after the
error byte.
"""

from __future__ import annotations

from datetime import date

from kkt_adapter.emulator import fn
from kkt_adapter.emulator.layout import fn_date, fn_datetime, kkt_date, kkt_time, le, money
from kkt_adapter.emulator.model import Device
from kkt_adapter.emulator.state import DOC_RECEIPT, DOC_SHIFT_CLOSE, DOC_SHIFT_OPEN, FnDocument
from kkt_adapter.emulator.wire import FN_NO_DATA, CommandError, Params

MODEL_NAME = "ШТРИХ-М-01Ф"
FIRMWARE = b"C3"  # "C.3"
FIRMWARE_BUILD = 55942
FIRMWARE_DATE = date(2024, 1, 15)
NO_DATETIME = b"\x00" * 5


def device_type(_dev: Device, _p: Params) -> bytes:
    """FCh: type 0, subtype 0, protocol 1.6, model 250, language 0, name."""
    return bytes([0, 0, 1, 6, 250, 0]) + MODEL_NAME.encode("cp1251")


def short_status(dev: Device, _p: Params) -> bytes:
    """10h: operator, flags, mode, sub-mode, operations in the receipt, voltages, reserved bytes."""
    ops = len(dev.state.receipt.lines) if dev.state.receipt else 0
    return (
        bytes([dev.operator])
        + le(dev.flags(), 2)
        + bytes([dev.mode_byte(), int(dev.sub_mode()), ops & 0xFF, 0x9C, 0x51, 0, 0, ops >> 8])
        + b"\x00" * 3
    )


def full_status(dev: Device, _p: Params) -> bytes:
    """11h: the 47-byte full status (firmware, document number, mode, date-time, serial, INN)."""
    st = dev.state
    fm_flags = 0x03 | (0x40 if st.shift_open else 0) | (0x80 if dev.shift_expired() else 0)
    last_closed = st.shift_number - 1 if st.shift_open else st.shift_number
    return (
        bytes([dev.operator])
        + FIRMWARE
        + le(FIRMWARE_BUILD, 2)
        + kkt_date(FIRMWARE_DATE)
        + bytes([1])
        + le(st.kkt_doc_no & 0xFFFF, 2)
        + le(dev.flags(), 2)
        + bytes([dev.mode_byte(), int(dev.sub_mode()), 0])
        + FIRMWARE
        + le(FIRMWARE_BUILD, 2)
        + kkt_date(FIRMWARE_DATE)
        + kkt_date(dev.now.date())
        + kkt_time(dev.now)
        + bytes([fm_flags])
        + le(st.config.kkt_serial, 4)
        + le(max(last_closed, 0), 2)
        + le(2000, 2)
        + bytes([1, 11])
        + le(int(st.config.inn), 6)
    )


def fn_status(dev: Device, _p: Params) -> bytes:
    """FF01: phase 3 (fiscal mode), current document, document data, shift, warnings, date, serial, last FD."""
    st = dev.state
    receipt = st.receipt
    return (
        bytes([0x03, 0x04 if receipt else 0x00, 1 if receipt and receipt.lines else 0, int(st.shift_open)])
        + bytes([fn.warning_bits(st, dev.now)])
        + fn_datetime(dev.now)
        + st.config.fn_serial.encode("ascii")
        + le(st.last_fd, 4)
    )


def fn_serial(dev: Device, _p: Params) -> bytes:
    """FF02: the FN serial, 16 ASCII characters."""
    return dev.state.config.fn_serial.encode("ascii")


def fn_expiry(dev: Device, _p: Params) -> bytes:
    """FF03: expiry date (YMD), re-registrations left (11), done (1)."""
    return fn_date(dev.state.fn_expires_on) + bytes([11, 1])


def registration(dev: Device, _p: Params) -> bytes:
    """FF09: registration date-time, INN (12) and registration number (20) in ASCII, taxation systems,
    work mode, reason, FD number and sign (0: the emulator's archive has no registration report)."""
    cfg = dev.state.config
    return (
        fn_datetime(dev.state.registered_at)
        + cfg.inn.ljust(12).encode("ascii")
        + cfg.registration_number.ljust(20).encode("ascii")
        + bytes([cfg.tax_systems, 0, 0])
        + le(0, 4)
        + le(0, 4)
    )


def exchange_status(dev: Device, _p: Params) -> bytes:
    """FF39: status bits (b1 = a message for the OFD is pending), count, first unsent FD and its date."""
    queue = dev.state.unconfirmed()
    if not queue:
        return bytes([0, 0]) + le(0, 2) + le(0, 4) + NO_DATETIME
    first = queue[0]
    return bytes([0x02, 0]) + le(len(queue), 2) + le(first.fd_number, 4) + fn_datetime(first.at)


def unconfirmed_count(dev: Device, _p: Params) -> bytes:
    """FF3F: number of documents without an OFD ticket."""
    return le(len(dev.state.unconfirmed()), 2)


def _archived(dev: Device, params: Params) -> FnDocument:
    doc = dev.state.find(params.uint(4))
    if doc is None:
        raise CommandError(FN_NO_DATA)
    return doc


def find_document(dev: Device, params: Params) -> bytes:
    """FF0A: type, ticket flag, date-time, FD, sign; receipts add operation + 5-byte sum, shifts the shift no."""
    doc = _archived(dev, params)
    data = bytes([doc.doc_type, int(doc.ticket_received)]) + fn_datetime(doc.at)
    data += le(doc.fd_number, 4) + le(doc.fiscal_sign, 4)
    if doc.doc_type == DOC_RECEIPT:
        data += bytes([doc.operation or 0]) + money(doc.sum_kop or 0)
    elif doc.doc_type in (DOC_SHIFT_OPEN, DOC_SHIFT_CLOSE):
        data += le(doc.shift_number, 2)
    return data


def ofd_ticket(dev: Device, params: Params) -> bytes:
    """FF3C: the stored OFD ticket of a document; FN error 0x08 when there is none (yet)."""
    doc = _archived(dev, params)
    if not doc.ticket_received:
        raise CommandError(FN_NO_DATA)
    return fn.ofd_ticket(dev.state, doc)


def shift_params(dev: Device, _p: Params) -> bytes:
    """FF40: shift open flag, shift number, number of the next receipt in the shift (0 when closed)."""
    st = dev.state
    receipt_no = st.receipts_in_shift + 1 if st.shift_open else 0
    return bytes([int(st.shift_open)]) + le(st.shift_number, 2) + le(receipt_no, 2)
