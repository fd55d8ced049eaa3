"""What the simulator checks in a document before it accepts it (pure; an empty list means valid)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from kkt_adapter.export.build import vat_of
from kkt_adapter.export.contract import (
    FISCAL_SIGN,
    FN_SERIAL,
    MAX_FISCAL_SIGN,
    ErrorItem,
    ExportDocument,
    document_id,
)


def _line_problems(doc: ExportDocument) -> list[ErrorItem]:
    problems: list[ErrorItem] = []
    for index, item in enumerate(doc.items):
        expected = int((Decimal(item.price_kop) * item.quantity).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        if abs(item.amount_kop - expected) > 1:
            problems.append(ErrorItem(field=f"items[{index}].amount_kop", reason=f"≠ price × quantity {expected}"))
        if item.vat_kop != vat_of(item.amount_kop, item.vat):
            problems.append(ErrorItem(field=f"items[{index}].vat_kop", reason="does not match the rate"))
    return problems


def _vat_problems(doc: ExportDocument) -> list[ErrorItem]:
    problems: list[ErrorItem] = []
    bases: dict[int, int] = {}
    for item in doc.items:
        bases[item.vat] = bases.get(item.vat, 0) + item.amount_kop
    stated = {s.vat: s for s in doc.vat_sums}
    if set(stated) != set(bases):
        return [ErrorItem(field="vat_sums", reason="rates differ from the lines' rates")]
    for code, base in bases.items():
        if stated[code].base_kop != base or stated[code].vat_kop != vat_of(base, code):
            problems.append(ErrorItem(field=f"vat_sums[{code}]", reason="does not match the lines"))
    return problems


def check_document(doc: ExportDocument) -> list[ErrorItem]:
    """Identity (id, FN serial, fiscal sign) and arithmetic (lines, Σ = total, payments = total, VAT)."""
    problems: list[ErrorItem] = []
    if not FN_SERIAL.match(doc.fn_serial):
        problems.append(ErrorItem(field="fn_serial", reason="must be 16 digits"))
    if not FISCAL_SIGN.match(doc.fiscal_sign) or int(doc.fiscal_sign) > MAX_FISCAL_SIGN:
        problems.append(ErrorItem(field="fiscal_sign", reason="must be up to 10 digits, ≤ 4294967295"))
    if doc.id != document_id(doc.fn_serial, doc.fd_number):
        problems.append(ErrorItem(field="id", reason="must be '{fn_serial}-{fd_number}'"))
    if doc.fiscal_datetime.tzinfo is None:
        problems.append(ErrorItem(field="fiscal_datetime", reason="must carry a UTC offset"))
    problems += _line_problems(doc)
    lines_kop = sum(item.amount_kop for item in doc.items)
    if lines_kop != doc.total_kop:
        problems.append(ErrorItem(field="total_kop", reason=f"≠ Σ line amounts {lines_kop}"))
    if doc.payments.sum_kop() != doc.total_kop:
        problems.append(ErrorItem(field="payments", reason=f"Σ {doc.payments.sum_kop()} ≠ total {doc.total_kop}"))
    problems += _vat_problems(doc)
    return problems
