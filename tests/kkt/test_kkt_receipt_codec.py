"""A validated receipt → 8Dh, FF46, FF4D, FF0C and FF45 bodies; the error table's classification.

Layouts: OPOS ``Source/SmFiscalPrinter/Units/FiscalPrinterDevice.pas`` (``FSSale2`` for FF46, ``ReceiptClose2``
for FF45 and its slots), javapos ``command/FSWriteOperationTLV.java`` (FF4D), the tax bytes javapos
``jpos/fiscalprinter/FiscalPrinterImpl.java`` ``getVatCodeShtrih``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kkt_adapter.kkt.errors import DeviceRejected, DeviceStateError
from kkt_adapter.kkt.protocol import commands
from kkt_adapter.kkt.protocol import receipt as codec
from kkt_adapter.kkt.protocol.errors_table import describe, device_error
from kkt_adapter.kkt.protocol.fields import read_u_le
from kkt_adapter.receipts.model import Operation, ReceiptIn, TaxSystem

PW = codec.Passwords(cashier=1, sysadmin=30)


def bodies(r: ReceiptIn, tax_system: TaxSystem = TaxSystem.OSN, model: int | None = None) -> codec.ReceiptBodies:
    return codec.receipt_bodies(PW, r, tax_system, model)


def receipt(operation: str = "sell", **extra: object) -> ReceiptIn:
    body: dict[str, object] = {
        "operation": operation,
        "items": [
            {"name": "Молоко", "price_kop": 8990, "quantity": "1.5", "amount_kop": 13485, "vat": "vat22"},
            {"name": "Хлеб", "price_kop": 5000, "quantity": "2", "amount_kop": 10000, "vat": "vat10"},
        ],
        "payments": [
            {"type": "cash", "amount_kop": 20000},
            {"type": "electronic", "amount_kop": 3485},
            {"type": "cash", "amount_kop": 1000},
        ],
        "total_kop": 23485,
    }
    body.update(extra)
    return ReceiptIn.model_validate(body)


@pytest.mark.parametrize(
    ("operation", "receipt_type", "op_type"),
    [("sell", 0, 1), ("buy", 1, 3), ("sell_return", 2, 2), ("buy_return", 3, 4)],
)
def test_operation_picks_receipt_type_and_line_type(operation: str, receipt_type: int, op_type: int) -> None:
    """8Dh gets the Shtrih receipt type and FF46 the tag 1054 code of the operation."""
    b = bodies(receipt(operation))
    assert b.open == bytes([0x8D, 1, 0, 0, 0, receipt_type])
    assert b.lines[0][0][6] == op_type


def test_line_quantity_is_scaled_exactly_and_amount_is_sent_as_given() -> None:
    """Quantity 1.5 → 1 500 000 in 6 bytes; price and the POS's line amount in 5 bytes each."""
    first = bodies(receipt()).lines[0][0]
    assert read_u_le(first, 7, 6) == 1_500_000
    assert read_u_le(first, 13, 5) == 8990
    assert read_u_le(first, 18, 5) == 13485
    assert first[23:28] == b"\xff" * 5
    assert first[28:32] == bytes([0xCB, 1, 4, 1])  # 22 % = row 11 = 0xC0 + 11, dept 1, full payment, goods
    assert first[32:].decode("cp1251") == "Молоко"


def test_payments_are_summed_per_slot() -> None:
    """Two cash payments land together in slot 1, electronic in slot 2, other slots zero."""
    body = bodies(receipt()).close
    pays = [read_u_le(body, 6 + 5 * i, 5) for i in range(16)]
    assert pays[0] == 21000
    assert pays[1] == 3485
    assert sum(pays) == 24485


def test_close_carries_tax_slots_by_meaning_and_the_tax_system_bit() -> None:
    """Slot 2 = VAT 10/110 of 100.00; 22 % has no slot (the KKT computes it); the USN bit; LEN 118 (no text)."""
    body = bodies(receipt(), TaxSystem.USN_INCOME).close
    assert len(body) == 6 + 80 + 1 + 30 + 1
    taxes = [read_u_le(body, 87 + 5 * i, 5) for i in range(6)]
    assert taxes == [0, 909, 0, 0, 0, 0]
    assert body[117] == 0x02


def test_all_prepayment_kinds_have_their_slots() -> None:
    """Prepayment, credit and counter-provision go to slots 14, 15 and 16."""
    r = receipt(
        payments=[
            {"type": "prepayment", "amount_kop": 3485},
            {"type": "credit", "amount_kop": 10000},
            {"type": "counter_provision", "amount_kop": 10000},
        ]
    )
    params = codec.close_params(r, TaxSystem.OSN)
    assert dict(params.payments_kop) == {14: 3485, 15: 10000, 16: 10000}


def test_receipt_operation_tags_are_the_ff46_types() -> None:
    """Every operation has an 8Dh type."""
    assert set(codec.RECEIPT_TYPE) == set(Operation)
    assert Decimal("1.5") * codec.QUANTITY_SCALE == 1_500_000


@pytest.mark.parametrize("code", [0x50, 0x58, 0x6B, 0x4E, 0x16, 0x14, 0x15, 0x4A, 0x73, 0x11, 0x30, 0x99])
def test_state_codes_are_state_errors(code: int) -> None:
    """Paper, shift, FN block, busy, mode codes (and unknown codes) are state errors."""
    assert isinstance(device_error(0xFF45, code), DeviceStateError)


@pytest.mark.parametrize("code", [0x33, 0x01, 0x02, 0x37, 0x08, 0x4F, 0x45])
def test_content_codes_are_rejections(code: int) -> None:
    """Bad parameters, unknown command, wrong password are rejections."""
    assert isinstance(device_error(0xFF46, code), DeviceRejected)


def test_error_text_is_russian_and_english() -> None:
    """Each row has a Russian text for the cashier and an English one for logs."""
    info = describe(0x6B)
    assert info.ru == "Нет чековой ленты"
    assert info.en == "no receipt paper"
    assert "0x6B" in str(device_error(0xFF45, 0x6B))


@given(
    quantity=st.decimals(min_value=Decimal("0.001"), max_value=Decimal("99999.999"), places=3),
    price=st.integers(min_value=0, max_value=10**12),
    name=st.text(
        alphabet=st.characters(min_codepoint=32, max_codepoint=0x44F).filter(lambda c: c.encode("cp1251", "ignore")),
        min_size=1,
        max_size=128,
    ),
)
def test_any_line_fits_one_frame_and_reads_back(quantity: Decimal, price: int, name: str) -> None:
    """Every valid line encodes to an FF46 body ≤ 255 bytes whose quantity and price read back exactly."""
    op = commands.OperationV2(1, int(quantity * codec.QUANTITY_SCALE), price, None, None, 1, 1, 4, 1, name)
    body = commands.operation_v2(1, op)
    assert len(body) <= 255
    assert Decimal(read_u_le(body, 7, 6)) / codec.QUANTITY_SCALE == quantity
    assert read_u_le(body, 13, 5) == price
