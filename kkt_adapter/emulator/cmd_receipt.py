"""Receipt commands: open (8Dh), sale (80h/82h legacy, FF46 FFD 1.05), close (85h legacy, FF45), cancel (88h, FF08).

A sale (80h/FF46) with no open receipt opens one, as the firmware does. Closing checks the payments
(error 0x45 when they are less than the total, 0x4D when the non-cash part alone exceeds it: change is
given from cash only), signs the receipt in the FN, and then fires the one-shot "paper runs out after
signing" fault if armed (answer 0x6B, document already signed).
"""

from __future__ import annotations

from dataclasses import replace

from kkt_adapter.emulator import fn
from kkt_adapter.emulator.layout import fn_datetime, le, money
from kkt_adapter.emulator.model import Device
from kkt_adapter.emulator.state import DOC_RECEIPT, FnDocument, OpenReceipt, ReceiptLine
from kkt_adapter.emulator.tax_table import ROWS, effective_row, row_of, vat_included
from kkt_adapter.emulator.wire import (
    E_BAD_PARAMS,
    E_NO_CASH,
    E_NO_PAPER,
    E_NONCASH_OVER,
    E_PAYMENT_LESS,
    E_RECEIPT_CLOSED,
    E_WRONG_RECEIPT_TYPE,
    FN_WRONG_STATE,
    CommandError,
    Params,
    decode_text,
)

# receipt type (8Dh: 0 sale, 1 purchase, 2 sale return, 3 purchase return) → tag 1054, and back
TAG_1054 = {0: 1, 1: 3, 2: 2, 3: 4}
RECEIPT_TYPE = {v: k for k, v in TAG_1054.items()}
LEGACY_TAX_GROUPS = frozenset(range(5))  # 80h/85h tax groups: 0 none, 1–4
MAX_NAME_BYTES = 128
CLOSE_TEXT_BYTES = 64
TAX_SLOTS, TAX_SLOTS_EXTENDED = 6, 10
TAG_MEASURE = 2108
MEASURE_CODES = frozenset(
    {0, 10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 70, 71, 72, 73, 80, 81, 82, 83, 255}
)


def _open(dev: Device, receipt_type: int) -> None:
    dev.need_printer()
    dev.need_no_receipt()
    dev.need_fn_unblocked()
    dev.need_open_shift()
    dev.state.receipt = OpenReceipt(receipt_type)
    dev.touch()
    dev.printed(3)


def open_receipt(dev: Device, params: Params) -> bytes:
    """8Dh: open a receipt of type 0–3."""
    receipt_type = params.uint(1)
    dev.need(receipt_type in TAG_1054)
    _open(dev, receipt_type)
    return bytes([dev.operator])


def _receipt_for(dev: Device, receipt_type: int) -> OpenReceipt:
    if dev.state.receipt is None:
        _open(dev, receipt_type)
    receipt = dev.state.receipt
    assert receipt is not None  # noqa: S101 - _open either set it or raised
    if receipt.receipt_type != receipt_type:
        raise CommandError(E_WRONG_RECEIPT_TYPE)
    dev.need_printer()
    dev.need_fn_unblocked()
    dev.need_open_shift()
    return receipt


def _legacy_line(dev: Device, params: Params, receipt_type: int) -> bytes:
    qty_milli, price = params.uint(5), params.uint(5)
    dept, taxes, text = params.uint(1), params.take(4), params.rest()
    dev.need(qty_milli > 0 and (dept <= 16 or dept == 255) and all(t in LEGACY_TAX_GROUPS for t in taxes))
    receipt = _receipt_for(dev, receipt_type)
    line_sum = (qty_milli * price + 500) // 1000
    receipt.lines.append(ReceiptLine(decode_text(text), qty_milli * 1000, price, line_sum, taxes[0]))
    dev.touch()
    dev.printed(2)
    return bytes([dev.operator])


def sale_legacy(dev: Device, params: Params) -> bytes:
    """80h "Продажа": quantity ×1000, price, department, tax groups 1–4, text; a line of a sale receipt."""
    return _legacy_line(dev, params, 0)


def return_sale_legacy(dev: Device, params: Params) -> bytes:
    """82h "Возврат продажи": the 80h layout; a line of a sale-return receipt (ПротоколККТ 2.0; pyshtrih
    ``return_sale``)."""
    return _legacy_line(dev, params, 2)


def operation_v2(dev: Device, params: Params) -> bytes:
    """FF46: one item; ``sum`` FF×5 = price×qty, else it must match price×qty within 1 kopeck."""
    op_type, qty, price = params.uint(1), params.uint(6), params.uint(5)
    given_sum, _tax_sum = params.money_or_none(), params.money_or_none()
    tax, _dept, _method, _subject = params.take(4)
    name = params.rest()
    dev.need(op_type in RECEIPT_TYPE and qty > 0 and len(name) <= MAX_NAME_BYTES)
    row = row_of(tax)
    dev.need(row is not None and row <= dev.state.config.tax_rows)
    assert row is not None  # noqa: S101 - dev.need refused it otherwise
    computed = (qty * price + 500_000) // 1_000_000
    dev.need(given_sum is None or abs(given_sum - computed) <= 1)
    receipt = _receipt_for(dev, RECEIPT_TYPE[op_type])
    hidden = name.startswith(b"//")
    line_sum = computed if given_sum is None else given_sum
    fiscal_row = effective_row(row, dev.state.config.vat20_mode, dev.now.date())
    receipt.lines.append(ReceiptLine(decode_text(name.removeprefix(b"//")), qty, price, line_sum, tax, fiscal_row))
    dev.touch()
    dev.printed(0 if hidden else 2)
    return b""


def expected_tax_slots(lines: list[ReceiptLine]) -> list[int]:
    """What FF45's ten tax slots must hold for ``lines``: per slot, the VAT of its row's total, or the
    turnover for the 0 % and без НДС slots (rows without a slot, 22 %, are computed by the device)."""
    per_row: dict[int, int] = {}
    for line in lines:
        per_row[line.row] = per_row.get(line.row, 0) + line.sum_kop
    slots = [0] * TAX_SLOTS_EXTENDED
    for row, amount in per_row.items():
        tax_row = ROWS.get(row)
        if tax_row is None or tax_row.ff45_slot is None:
            continue
        slots[tax_row.ff45_slot - 1] += amount if tax_row.turnover else vat_included(row, amount)
    return slots


def _check_tax_sums(receipt: OpenReceipt, given: list[int]) -> None:
    """The given FF45 tax slots against the lines, ±1 kopeck each (33h otherwise)."""
    expected = expected_tax_slots(receipt.lines)
    if any(abs(sent - want) > 1 for sent, want in zip(given, expected, strict=False)):
        raise CommandError(E_BAD_PARAMS)


def _close(dev: Device, payments: list[int], rounding: int) -> tuple[int, FnDocument]:
    receipt = dev.state.receipt
    if receipt is None:
        raise CommandError(E_RECEIPT_CLOSED)
    dev.need_printer()
    dev.need_fn_unblocked()
    dev.need_open_shift()
    total = receipt.total_kop - rounding
    dev.need(bool(receipt.lines) and 0 <= rounding <= min(99, receipt.total_kop))
    paid, cash = sum(payments), payments[0]
    if paid < total:
        raise CommandError(E_PAYMENT_LESS)
    if paid - cash > total:
        raise CommandError(E_NONCASH_OVER)
    change = paid - total
    cash_delta = (cash - change) * (1 if receipt.receipt_type in (0, 3) else -1)
    if dev.state.cash_kop + cash_delta < 0:
        raise CommandError(E_NO_CASH)
    st = dev.state
    doc = fn.sign_document(st, DOC_RECEIPT, dev.now, operation=TAG_1054[receipt.receipt_type], sum_kop=total)
    doc.lines = tuple(receipt.lines)
    st.cash_kop += cash_delta
    st.receipts_in_shift += 1
    st.kkt_doc_no += 1
    st.receipt = None
    dev.touch()
    dev.printed(8)
    if dev.faults.paper_out_after_sign:
        dev.faults.paper_out_after_sign = False
        dev.faults.paper_out = True
        st.print_interrupted = True
        raise CommandError(E_NO_PAPER)
    return change, doc


def close_legacy(dev: Device, params: Params) -> bytes:
    """85h: cash + payment types 2–4, discount (must be 0 here), tax groups, text → change."""
    payments = [params.uint(5) for _ in range(4)]
    discount = int.from_bytes(params.take(2), "little", signed=True)
    params.take(4)
    params.rest()
    if discount != 0:
        raise CommandError(E_BAD_PARAMS)  # receipt discounts are not emulated
    change, _doc = _close(dev, payments, 0)
    return bytes([dev.operator]) + money(change)


def close_v2(dev: Device, params: Params) -> bytes:
    """FF45: 16 payments, rounding, tax slots 1–6, taxation system, text 0–64 (LEN 118–182); or the
    extended form with a 64-byte text and tax slots 7–10 after it (LEN 202, OPOS ``ReceiptClose2``)
    → change, FD, sign, date-time. The tax slots must match the lines (:func:`expected_tax_slots`)."""
    payments = [params.uint(5) for _ in range(16)]
    rounding = params.uint(1)
    taxes = [params.uint(5) for _ in range(TAX_SLOTS)]
    tax_system = params.uint(1)
    tail = params.rest()
    if len(tail) == CLOSE_TEXT_BYTES + 5 * (TAX_SLOTS_EXTENDED - TAX_SLOTS):
        extra = tail[CLOSE_TEXT_BYTES:]
        taxes += [int.from_bytes(extra[i : i + 5], "little") for i in range(0, len(extra), 5)]
    else:
        dev.need(len(tail) <= CLOSE_TEXT_BYTES)
    dev.need(tax_system & ~0x3F == 0 and tax_system & (tax_system - 1) == 0)
    if dev.state.receipt is not None:
        _check_tax_sums(dev.state.receipt, taxes)
    change, doc = _close(dev, payments, rounding)
    return money(change) + le(doc.fd_number, 4) + le(doc.fiscal_sign, 4) + fn_datetime(doc.at)


def cancel_receipt(dev: Device, _p: Params) -> bytes:
    """88h: cancel the open receipt (allowed without paper: recovery must stay possible)."""
    if dev.state.receipt is None:
        raise CommandError(E_RECEIPT_CLOSED)
    dev.state.receipt = None
    dev.state.kkt_doc_no += 1
    dev.touch()
    dev.printed(2)
    return bytes([dev.operator])


def cancel_fn_document(dev: Device, _p: Params) -> bytes:
    """FF08: drop the document open in the FN (the open receipt), if any; idempotent."""
    if dev.state.receipt is not None:
        dev.state.receipt = None
        dev.touch()
    return b""


def _tlv(params: Params) -> tuple[int, bytes]:
    """One TLV ``tag(2 LE) length(2 LE) value``; 33h when the length does not match the bytes sent."""
    tag, length = params.uint(2), params.uint(2)
    value = params.rest()
    if len(value) != length:
        raise CommandError(E_BAD_PARAMS)
    return tag, value


def send_tlv(dev: Device, params: Params) -> bytes:
    """FF0C: a document TLV for the open document (checked, stored nowhere); FN 02h "другое состояние ФН"
    when no document is open in the FN."""
    _tlv(params)
    if dev.state.receipt is None:
        raise CommandError(FN_WRONG_STATE)
    return b""


def send_operation_tlv(dev: Device, params: Params) -> bytes:
    """FF4D: a TLV of the operation FF46 just registered (javapos ``FSWriteOperationTLV``); tag 2108 (1 byte,
    a known measure) is kept on that line; other tags are checked and dropped."""
    tag, value = _tlv(params)
    receipt = dev.state.receipt
    if receipt is None:
        raise CommandError(FN_WRONG_STATE)
    dev.need(bool(receipt.lines))
    if tag == TAG_MEASURE:
        dev.need(len(value) == 1 and value[0] in MEASURE_CODES)
        receipt.lines[-1] = replace(receipt.lines[-1], measure=value[0])
        dev.touch()
    return b""
