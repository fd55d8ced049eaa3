"""Sample fiscalized receipts for tests, demos and ``scripts/bench-drain`` (deterministic per index)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kkt_adapter.buffer.records import FiscalRecord
from kkt_adapter.buffer.store import Store
from kkt_adapter.receipts.model import Cashier, Item, Operation, Payment, PaymentType, ReceiptIn, TaxSystem, Vat

SAMPLE_FN = "9999078900012345"
SAMPLE_RNM = "0000000001012345"
EPOCH = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def sample_receipt(index: int) -> ReceiptIn:
    """A valid two-line sale paid in cash with change; amounts vary with ``index``."""
    price_kop = 10_000 + index % 997
    coffee = Item(
        name="Кофе латте 0,3 л",
        price_kop=price_kop,
        quantity=Decimal("2.000"),
        amount_kop=price_kop * 2,
        vat=Vat.VAT22,
    )
    bun = Item(name="Булочка", price_kop=4_550, quantity=Decimal("1.000"), amount_kop=4_550, vat=Vat.VAT10)
    total = coffee.amount_kop + bun.amount_kop
    return ReceiptIn(
        id=f"sale-{index}",
        operation=Operation.SELL,
        tax_system=TaxSystem.OSN,
        items=[coffee, bun],
        payments=[Payment(type=PaymentType.CASH, amount_kop=total + 150)],
        total_kop=total,
        customer_contact="+79990001122",
        cashier=Cashier(name="Иванова И.И."),
    )


@dataclass(frozen=True)
class FiscalizedSample:
    """The fiscal attributes a stored receipt carries (fits :class:`kkt_adapter.export.build.Fiscalized`)."""

    receipt: ReceiptIn
    fd_number: int
    fiscal_sign: str
    fiscal_datetime: datetime
    tax_system: TaxSystem = TaxSystem.OSN
    shift_number: int = 1
    receipt_number: int = 1
    fn_serial: str = SAMPLE_FN
    registration_number: str = SAMPLE_RNM


def sample_fiscalized(index: int) -> FiscalizedSample:
    """Receipt ``index`` as fiscal document ``index + 1`` of the sample FN."""
    return FiscalizedSample(
        receipt=sample_receipt(index),
        fd_number=index + 1,
        fiscal_sign=str(1_000_000_000 + index * 7919 % 3_000_000_000),
        fiscal_datetime=EPOCH + timedelta(seconds=index),
        receipt_number=index + 1,
    )


async def seed_fiscalized(store: Store, indices: range, chunk: int = 256) -> list[str]:
    """Put sample receipts ``indices`` into the buffer as ``fiscalized`` through its public API.

    Each goes accepted → printing → fiscalized with the sample FN's numbers; chunks run concurrently so
    the writer's group commit applies. Returns the keys in order.
    """
    keys: list[str] = []
    for start in range(indices.start, indices.stop, chunk):
        part = range(start, min(start + chunk, indices.stop))
        keys += await asyncio.gather(*(_fiscalize_one(store, index) for index in part))
    return keys


async def _fiscalize_one(store: Store, index: int) -> str:
    sample = sample_fiscalized(index)
    key = f"sale-{index}"
    await store.insert_receipt(key, sample.receipt, "kkt1", sample.tax_system)
    await store.begin_printing(key, last_fd=index)
    record = FiscalRecord(
        fd_number=sample.fd_number,
        fiscal_sign=int(sample.fiscal_sign),
        fiscal_datetime=sample.fiscal_datetime,
        shift_number=sample.shift_number,
        receipt_number=sample.receipt_number,
        fn_serial=sample.fn_serial,
        registration_number=sample.registration_number,
    )
    await store.mark_fiscalized(key, record, print_incomplete=False, reason="sample")
    return key
