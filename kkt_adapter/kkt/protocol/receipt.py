"""A validated receipt → the command bodies that fiscalize it (8Dh, n × FF46, FF45). Pure.

The line amount is sent as given (tag 1043, already checked against price × quantity at intake), so
the FN signs exactly the sum the POS computed. The six FF45 tax sums are the VAT included in the total
of each tax-table row 1…6 (rows 7…10, the USN rates, have no FF45 slot: the KKT computes them).
"""

from __future__ import annotations

from collections import defaultdict

from kkt_adapter.kkt.protocol import commands
from kkt_adapter.kkt.protocol.commands import CloseV2, OperationV2
from kkt_adapter.kkt.protocol.tax import TAX_RATE_BYTE, vat_kop
from kkt_adapter.receipts.model import Item, Operation, PaymentType, ReceiptIn, TaxSystem, Vat

# 8Dh receipt type by tag 1054 operation.
RECEIPT_TYPE: dict[Operation, int] = {
    Operation.SELL: 0,
    Operation.BUY: 1,
    Operation.SELL_RETURN: 2,
    Operation.BUY_RETURN: 3,
}

# FF45 payment slot by payment type.
PAYMENT_SLOT: dict[PaymentType, int] = {
    PaymentType.CASH: 1,
    PaymentType.ELECTRONIC: 2,
    PaymentType.PREPAYMENT: 14,
    PaymentType.CREDIT: 15,
    PaymentType.COUNTER_PROVISION: 16,
}

DEPARTMENT = 1
QUANTITY_SCALE = 10**6


def open_body(password: int, receipt: ReceiptIn) -> bytes:
    """8Dh for the receipt's operation."""
    return commands.open_receipt(password, RECEIPT_TYPE[receipt.operation])


def item_operation(operation: Operation, item: Item) -> OperationV2:
    """FF46 parameters of one line: quantity × 10⁶ (exact), the line's own amount, VAT by table row."""
    return OperationV2(
        op_type=operation.tag_1054,
        quantity_micro=int(item.quantity * QUANTITY_SCALE),
        price_kop=item.price_kop,
        sum_kop=item.amount_kop,
        tax_kop=None,
        tax_rate=TAX_RATE_BYTE[item.vat],
        department=DEPARTMENT,
        payment_method=int(item.payment_method),
        payment_object=item.payment_object,
        name=item.name,
    )


def item_bodies(password: int, receipt: ReceiptIn) -> list[bytes]:
    """One FF46 body per line, in order."""
    return [commands.operation_v2(password, item_operation(receipt.operation, i)) for i in receipt.items]


def tax_sums(receipt: ReceiptIn) -> list[int | None]:
    """VAT included per tax-table row 1…6, computed on each row's total amount."""
    per_vat: dict[Vat, int] = defaultdict(int)
    for item in receipt.items:
        per_vat[item.vat] += item.amount_kop
    rows = [0] * commands.TAX_SLOTS
    for vat, amount in per_vat.items():
        row = TAX_RATE_BYTE[vat]
        if row <= commands.TAX_SLOTS:
            rows[row - 1] += vat_kop(vat, amount)
    return list(rows)


def close_params(receipt: ReceiptIn, tax_system: TaxSystem) -> CloseV2:
    """FF45 parameters: payments summed per slot, no rounding, tax sums, the tax-system bit."""
    payments: dict[int, int] = defaultdict(int)
    for payment in receipt.payments:
        payments[PAYMENT_SLOT[payment.type]] += payment.amount_kop
    return CloseV2(
        payments_kop=dict(payments),
        rounding_kop=0,
        tax_sums_kop=tax_sums(receipt),
        tax_system_bits=tax_system.bit,
    )


def close_body(password: int, receipt: ReceiptIn, tax_system: TaxSystem) -> bytes:
    """FF45 body for the receipt."""
    return commands.close_receipt_v2(password, close_params(receipt, tax_system))
