"""Turn a fiscalized receipt into the export document: pure arithmetic, no I/O.

VAT is included in prices (Russian retail): a line's VAT is ``amount × r / (100 + r)`` rounded half-up;
fractional rates (20/120 …) use the same formula; 0 % and "no VAT" have none. Payments are net of
change (change comes out of cash), so they add up to the total as the FN records them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from kkt_adapter.errors import AdapterError
from kkt_adapter.export.contract import (
    ExportCashier,
    ExportDocument,
    ExportItem,
    ExportPayments,
    ExportVatSum,
    document_id,
)
from kkt_adapter.receipts.model import PaymentType, ReceiptIn, TaxSystem

# Tag 1199 code → percent included in the price (None: no VAT).
VAT_PERCENT: dict[int, int | None] = {
    1: 20,
    2: 10,
    3: 20,
    4: 10,
    5: 0,
    6: None,
    7: 5,
    8: 7,
    9: 5,
    10: 7,
    11: 22,
    12: 22,
}


class Fiscalized(Protocol):
    """What the builder reads from a stored, fiscalized receipt (``buffer.StoredReceipt`` fits)."""

    @property
    def receipt(self) -> ReceiptIn: ...
    @property
    def tax_system(self) -> TaxSystem | str | None: ...
    @property
    def fd_number(self) -> int | None: ...
    @property
    def fiscal_sign(self) -> int | str | None: ...
    @property
    def fiscal_datetime(self) -> datetime | None: ...
    @property
    def shift_number(self) -> int | None: ...
    @property
    def receipt_number(self) -> int | None: ...
    @property
    def fn_serial(self) -> str | None: ...
    @property
    def registration_number(self) -> str | None: ...


class NotFiscalizedError(AdapterError, ValueError):
    """The stored receipt lacks a fiscal attribute (FD number, sign, FN serial …)."""


def vat_of(amount_kop: int, vat_code: int) -> int:
    """VAT included in ``amount_kop`` at tag-1199 rate ``vat_code``, rounded half-up to a kopeck."""
    percent = VAT_PERCENT[vat_code]
    if not percent:
        return 0
    exact = Decimal(amount_kop) * percent / (100 + percent)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def vat_sums(items: list[ExportItem]) -> list[ExportVatSum]:
    """Per rate: Σ line amounts and the VAT computed on that sum, in ascending rate-code order."""
    base: dict[int, int] = defaultdict(int)
    for item in items:
        base[item.vat] += item.amount_kop
    return [ExportVatSum(vat=code, base_kop=kop, vat_kop=vat_of(kop, code)) for code, kop in sorted(base.items())]


def payments_of(receipt: ReceiptIn) -> ExportPayments:
    """Payment sums by tag, with the change (paid − total) taken out of cash."""
    sums: dict[PaymentType, int] = defaultdict(int)
    for payment in receipt.payments:
        sums[payment.type] += payment.amount_kop
    change = sum(sums.values()) - receipt.total_kop
    return ExportPayments(
        cash_kop=sums[PaymentType.CASH] - max(change, 0),
        electronic_kop=sums[PaymentType.ELECTRONIC],
        prepayment_kop=sums[PaymentType.PREPAYMENT],
        credit_kop=sums[PaymentType.CREDIT],
        counter_provision_kop=sums[PaymentType.COUNTER_PROVISION],
    )


def _tax_bit(value: TaxSystem | str | None, receipt: ReceiptIn) -> int:
    system = value if value is not None else receipt.tax_system
    if system is None:
        raise NotFiscalizedError("no tax system (1055)")
    return TaxSystem(system).bit


def build_document(stored: Fiscalized) -> ExportDocument:
    """The export document of a fiscalized receipt; raises :class:`NotFiscalizedError` if attributes are missing."""
    fn, fd, sign, when = stored.fn_serial, stored.fd_number, stored.fiscal_sign, stored.fiscal_datetime
    if fn is None or fd is None or sign is None or when is None:
        raise NotFiscalizedError(f"fn_serial={fn!r} fd_number={fd!r} fiscal_sign={sign!r} datetime={when!r}")
    receipt = stored.receipt
    items = [
        ExportItem(
            name=item.name,
            price_kop=item.price_kop,
            quantity=item.quantity,
            amount_kop=item.amount_kop,
            vat=item.vat.tag_1199,
            vat_kop=vat_of(item.amount_kop, item.vat.tag_1199),
            payment_method=int(item.payment_method),
            payment_object=item.payment_object,
            measure=item.measure,
        )
        for item in receipt.items
    ]
    cashier = receipt.cashier
    return ExportDocument(
        id=document_id(fn, fd),
        fn_serial=fn,
        registration_number=stored.registration_number or "",
        fd_number=fd,
        fiscal_sign=str(sign),
        fiscal_datetime=when,
        operation=receipt.operation.tag_1054,
        tax_system=_tax_bit(stored.tax_system, receipt),
        items=items,
        payments=payments_of(receipt),
        vat_sums=vat_sums(items),
        total_kop=receipt.total_kop,
        shift_number=stored.shift_number or 0,
        receipt_number=stored.receipt_number or 0,
        cashier=ExportCashier(name=cashier.name, inn=cashier.inn) if cashier else None,
        customer_contact=receipt.customer_contact,
    )
