"""Cross-field rules of a receipt, as pure functions: each returns the list of problems found.

Money is integer kopecks; quantities are exact decimals. Nothing here touches I/O or the clock:
the fiscal date (for the VAT table) and ``now`` are arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from kkt_adapter.receipts.model import Operation, PaymentType, ReceiptIn, TaxSystem, Vat

VAT22_FROM = date(2026, 1, 1)
USN_VAT = frozenset({Vat.VAT5, Vat.VAT7, Vat.VAT105, Vat.VAT107})
RETIRED_2026 = frozenset({Vat.VAT20, Vat.VAT120})
NEW_2026 = frozenset({Vat.VAT22, Vat.VAT122})
MAX_CLOCK_SKEW = timedelta(minutes=10)
MAX_SALE_AGE = timedelta(days=3)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the request: the field's path (``items[2].amount_kop``) and why."""

    field: str
    reason: str


def line_amount_kop(price_kop: int, quantity: Decimal) -> int:
    """Price × quantity rounded half-up to a whole kopeck (tag 1043 as the FN computes it)."""
    return int((Decimal(price_kop) * quantity).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def check_arithmetic(receipt: ReceiptIn) -> list[Problem]:
    """Lines = price × quantity (±1 kop), Σ lines = total, payments cover it, change only from cash."""
    problems: list[Problem] = []
    for index, item in enumerate(receipt.items):
        expected = line_amount_kop(item.price_kop, item.quantity)
        if abs(item.amount_kop - expected) > 1:
            problems.append(
                Problem(
                    f"items[{index}].amount_kop",
                    f"{item.amount_kop} ≠ price × quantity = {expected} (±1 kopeck allowed)",
                )
            )
    lines_kop = sum(item.amount_kop for item in receipt.items)
    if lines_kop != receipt.total_kop:
        problems.append(Problem("total_kop", f"{receipt.total_kop} ≠ sum of item amounts {lines_kop}"))
    paid_kop = sum(p.amount_kop for p in receipt.payments)
    cash_kop = sum(p.amount_kop for p in receipt.payments if p.type is PaymentType.CASH)
    if paid_kop < receipt.total_kop:
        problems.append(Problem("payments", f"paid {paid_kop} < total {receipt.total_kop}"))
    elif paid_kop - receipt.total_kop > cash_kop:
        problems.append(
            Problem("payments", f"overpaid by {paid_kop - receipt.total_kop} but change is only given from cash")
        )
    return problems


def check_vat(receipt: ReceiptIn, tax_system: TaxSystem, fiscal_date: date) -> list[Problem]:
    """VAT rates valid for the fiscal date and the taxation system.

    From 2026-01-01 the general rate is 22 % (tags 1199 = 11, 12); 20 % and 20/120 stay allowed only on
    returns (refunds of sales made before the change). 22 % is refused before that date. 5 % / 7 % and
    their fractions belong to the simplified system (УСН) only.
    """
    problems: list[Problem] = []
    is_return = receipt.operation in (Operation.SELL_RETURN, Operation.BUY_RETURN)
    for index, item in enumerate(receipt.items):
        field = f"items[{index}].vat"
        if item.vat in NEW_2026 and fiscal_date < VAT22_FROM:
            problems.append(Problem(field, f"{item.vat} is valid from {VAT22_FROM.isoformat()}"))
        if item.vat in RETIRED_2026 and fiscal_date >= VAT22_FROM and not is_return:
            problems.append(Problem(field, f"{item.vat} is not valid after {VAT22_FROM.isoformat()}: use vat22"))
        if item.vat in USN_VAT and not tax_system.is_usn:
            problems.append(Problem(field, f"{item.vat} is only for the simplified system (usn_*)"))
    return problems


def check_created_at(receipt: ReceiptIn, now: datetime) -> list[Problem]:
    """A sale time, if given, lies within the last three days and not in the future (10 min skew)."""
    if receipt.created_at is None:
        return []
    if receipt.created_at > now + MAX_CLOCK_SKEW:
        return [Problem("created_at", "is in the future; check the POS clock")]
    if receipt.created_at < now - MAX_SALE_AGE:
        return [Problem("created_at", f"is older than {MAX_SALE_AGE.days} days")]
    return []


def check_receipt(receipt: ReceiptIn, tax_system: TaxSystem, now: datetime, max_items: int) -> list[Problem]:
    """All cross-field rules at once; an empty list means the receipt may be accepted."""
    problems: list[Problem] = []
    if len(receipt.items) > max_items:
        problems.append(Problem("items", f"{len(receipt.items)} items; at most {max_items} per receipt"))
    problems += check_arithmetic(receipt)
    problems += check_vat(receipt, tax_system, now.date())
    problems += check_created_at(receipt, now)
    return problems
