"""A validated receipt → every command body that fiscalizes it, built before anything is sent. Pure.

Order on the wire (javapos ``FSSalesReceipt.printReceiptItem``): 8Dh; per line FF46, then FF4D with tag 2108
when the line has a measure — FF4D *before* its FF46 on a "кассовое ядро" or ШТРИХ-MOBILE-Ф (javapos
``getCapOperationTagsFirst``: FCh models 16, 20, 21, 45, 46, 19; the vendor's own fr_drv_ng_examples #42 sends
FF4D first on such a device); FF0C document tags (cashier, customer contact); FF45. The line amount is sent
as given (tag 1043, checked against price × quantity at intake), so the FN signs exactly the sum the POS
computed. Passwords: operations
and the close with the cashier's (OPOS ``FSSale2``/``ReceiptClose2`` use ``GetUsrPassword``); the TLV
commands with the system administrator's (OPOS ``FSWriteTLV``, javapos ``FSWriteOperationTLV``).
A rate the vendor's sources do not settle raises :class:`RateNotEncodable` here, before the first byte.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from kkt_adapter.kkt.protocol import commands
from kkt_adapter.kkt.protocol.commands import CloseV2, OperationV2
from kkt_adapter.kkt.protocol.tax import FF45_SLOT, slot_sum, tax_code
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
TAG_MEASURE = 2108
TAG_CUSTOMER_CONTACT = 1008
TAG_CASHIER_NAME = 1021
TAG_CASHIER_INN = 1203
# javapos DeviceMetrics.isCashCore (16, 20, 21, 45, 46) or isShtrihMobile (19): operation tags go first.
OPERATION_TAGS_FIRST_MODELS = frozenset({16, 20, 21, 45, 46, 19})


@dataclass(frozen=True)
class Passwords:
    """The cashier's password (operations, close) and the system administrator's (TLVs)."""

    cashier: int
    sysadmin: int


@dataclass(frozen=True)
class ReceiptBodies:
    """Every body of one receipt, in wire order: ``open``, ``lines`` (each FF46 + its FF4Ds), ``tags``, ``close``."""

    open: bytes
    lines: list[list[bytes]]
    tags: list[bytes]
    close: bytes


def item_operation(operation: Operation, item: Item, model: int | None = None) -> OperationV2:
    """FF46 parameters of one line: quantity × 10⁶ (exact), the line's own amount, the tax byte."""
    return OperationV2(
        op_type=operation.tag_1054,
        quantity_micro=int(item.quantity * QUANTITY_SCALE),
        price_kop=item.price_kop,
        sum_kop=item.amount_kop,
        tax_kop=None,
        tax_rate=tax_code(item.vat, model),
        department=DEPARTMENT,
        payment_method=int(item.payment_method),
        payment_object=item.payment_object,
        name=item.name,
    )


def line_bodies(passwords: Passwords, operation: Operation, item: Item, model: int | None = None) -> list[bytes]:
    """FF46 of one line and, when the line has a measure other than pieces (0), FF4D tag 2108 (1 byte): after
    the FF46, or before it on the models of :data:`OPERATION_TAGS_FIRST_MODELS`."""
    line = commands.operation_v2(passwords.cashier, item_operation(operation, item, model))
    if not item.measure:
        return [line]
    tag = commands.send_operation_tlv(passwords.sysadmin, TAG_MEASURE, bytes([item.measure]))
    return [tag, line] if model in OPERATION_TAGS_FIRST_MODELS else [line, tag]


def document_tags(receipt: ReceiptIn) -> list[tuple[int, bytes]]:
    """The receipt's document-level tags for FF0C: cashier (1021, 1203), customer contact (1008); strings
    in cp866, as the FN takes them (javapos ``TLVTag`` uses IBM866; intake admits only cp866 text)."""
    tags: list[tuple[int, str]] = []
    if receipt.cashier is not None:
        tags.append((TAG_CASHIER_NAME, receipt.cashier.name))
        if receipt.cashier.inn:
            tags.append((TAG_CASHIER_INN, receipt.cashier.inn))
    if receipt.customer_contact:
        tags.append((TAG_CUSTOMER_CONTACT, receipt.customer_contact))
    return [(tag, text.encode("cp866")) for tag, text in tags]


def tax_sums(receipt: ReceiptIn) -> list[int]:
    """FF45 tax slots: 6, or 10 (the extended form) when a 5 %/7 % slot is non-zero; 22 % rows have none."""
    per_vat: dict[Vat, int] = defaultdict(int)
    for item in receipt.items:
        per_vat[item.vat] += item.amount_kop
    slots = [0] * commands.TAX_SLOTS_EXTENDED
    for vat, amount in per_vat.items():
        if vat in FF45_SLOT:
            slots[FF45_SLOT[vat][0] - 1] += slot_sum(vat, amount)
    extended = any(slots[commands.TAX_SLOTS :])
    return slots if extended else slots[: commands.TAX_SLOTS]


def close_params(receipt: ReceiptIn, tax_system: TaxSystem) -> CloseV2:
    """FF45 parameters: payments summed per slot, no rounding, tax slots, the tax-system bit."""
    payments: dict[int, int] = defaultdict(int)
    for payment in receipt.payments:
        payments[PAYMENT_SLOT[payment.type]] += payment.amount_kop
    return CloseV2(
        payments_kop=dict(payments),
        rounding_kop=0,
        tax_sums_kop=tax_sums(receipt),
        tax_system_bits=tax_system.bit,
    )


def receipt_bodies(
    passwords: Passwords, receipt: ReceiptIn, tax_system: TaxSystem, model: int | None = None
) -> ReceiptBodies:
    """All bodies of ``receipt`` on a device of FCh ``model``; raises before returning anything if one
    line cannot be encoded (:class:`RateNotEncodable`, or ProtocolError for a name not in cp1251)."""
    return ReceiptBodies(
        open=commands.open_receipt(passwords.cashier, RECEIPT_TYPE[receipt.operation]),
        lines=[line_bodies(passwords, receipt.operation, item, model) for item in receipt.items],
        tags=[commands.send_tlv(passwords.sysadmin, tag, value) for tag, value in document_tags(receipt)],
        close=commands.close_receipt_v2(passwords.cashier, close_params(receipt, tax_system)),
    )
