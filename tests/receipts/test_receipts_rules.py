"""Every intake rule of a receipt, one at a time: the good value passes, the bad one names its field."""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from receipt_support import NOW_2026, bad_fields

from kkt_adapter.receipts.model import _CONTROL, MAX_KOP, ReceiptIn, TaxSystem
from kkt_adapter.receipts.rules import line_amount_kop

Make = Callable[..., dict[str, Any]]


def one_item(vat: str = "vat10", **item: Any) -> list[dict[str, Any]]:
    line = {"name": "Товар", "price_kop": 10_000, "quantity": "1", "amount_kop": 10_000, "vat": vat, **item}
    return [line]


def single(valid_receipt: Make, vat: str = "vat10", operation: str = "sell", **item: Any) -> dict[str, Any]:
    """A one-line receipt paid in cash exactly."""
    items = one_item(vat, **item)
    total = items[0]["amount_kop"]
    return valid_receipt(
        operation=operation, items=items, total_kop=total, payments=[{"type": "cash", "amount_kop": total}]
    )


def test_the_factory_receipt_is_valid(valid_receipt: Make) -> None:
    """The shared valid receipt passes the model and every cross-field rule."""
    assert bad_fields(valid_receipt()) == set()


@pytest.mark.parametrize(("length", "ok"), [(128, True), (129, False)])
def test_item_name_is_at_most_128_characters(valid_receipt: Make, length: int, ok: bool) -> None:
    """Tag 1030 holds at most 128 characters."""
    body = single(valid_receipt, name="я" * length)
    assert bad_fields(body) == (set() if ok else {"items[0].name"})


def test_item_name_must_not_be_blank(valid_receipt: Make) -> None:
    """A name of spaces is empty after stripping and is refused."""
    assert bad_fields(single(valid_receipt, name="   ")) == {"items[0].name"}


@pytest.mark.parametrize("char", ["\x00", "\n", "\t", "\x1b", "\x7f", "\x85"])
def test_item_name_refuses_control_characters(valid_receipt: Make, char: str) -> None:
    """C0, DEL and C1 control characters cannot go to the printer."""
    assert bad_fields(single(valid_receipt, name=f"Хлеб{char}ржаной")) == {"items[0].name"}


def test_cashier_name_refuses_control_characters(valid_receipt: Make) -> None:
    """The cashier's name (tag 1021) is printed too and must be printable."""
    assert bad_fields(valid_receipt(cashier={"name": "Иванова\x00"})) == {"cashier.name"}


@pytest.mark.parametrize(("length", "ok"), [(64, True), (65, False)])
def test_cashier_name_is_at_most_64_characters(valid_receipt: Make, length: int, ok: bool) -> None:
    """Tag 1021 is limited to 64 characters."""
    assert bad_fields(valid_receipt(cashier={"name": "к" * length})) == (set() if ok else {"cashier.name"})


@pytest.mark.parametrize(
    ("inn", "ok"),
    [
        ("7707083893", True),
        ("500100732259", True),
        ("12345678901", False),
        ("77070838931", False),
        ("77O7083893", False),
    ],
)
def test_cashier_inn_is_10_or_12_digits(valid_receipt: Make, inn: str, ok: bool) -> None:
    """Tag 1203 is 12 digits (10 for a legal entity) and nothing else."""
    body = valid_receipt(cashier={"name": "Иванова", "inn": inn})
    assert bad_fields(body) == (set() if ok else {"cashier.inn"})


@pytest.mark.parametrize(
    ("contact", "ok"),
    [
        ("+79161234567", True),
        ("+375291234567", True),
        ("buyer@example.ru", True),
        ("89161234567", False),
        ("+7916123", False),
        ("+7 916 123-45-67", False),
        ("buyer@", False),
        ("buyer@example", False),
        ("two words@example.ru", False),
    ],
)
def test_customer_contact_is_a_phone_or_an_email(valid_receipt: Make, contact: str, ok: bool) -> None:
    """Tag 1008 is ``+`` and 11–15 digits, or an e-mail address."""
    assert bad_fields(valid_receipt(customer_contact=contact)) == (set() if ok else {"customer_contact"})


@pytest.mark.parametrize(
    ("quantity", "ok"), [("0.001", True), ("1.5", True), ("99999.999", True), ("1.0001", False), ("0", False)]
)
def test_quantity_is_positive_with_at_most_three_places(valid_receipt: Make, quantity: str, ok: bool) -> None:
    """Tag 1023 is an exact decimal > 0 with at most 3 places."""
    amount = line_amount_kop(10_000, Decimal(quantity))
    body = single(valid_receipt, quantity=quantity, amount_kop=max(amount, 1))
    assert bad_fields(body) == (set() if ok else {"items[0].quantity"})


def test_quantity_above_the_limit_is_refused(valid_receipt: Make) -> None:
    """A quantity over 99999.999 does not fit the protocol field."""
    assert bad_fields(single(valid_receipt, quantity="100000", price_kop=1, amount_kop=100_000)) == {
        "items[0].quantity"
    }


@pytest.mark.parametrize(
    ("price", "ok"), [(0, True), (MAX_KOP, True), (MAX_KOP + 1, False), (-1, False), (10.0, False), ("100", False)]
)
def test_price_is_whole_kopecks_within_the_limit(valid_receipt: Make, price: Any, ok: bool) -> None:
    """Tag 1079 is a non-negative integer of kopecks: no floats, no strings, nothing above MAX_KOP."""
    body = single(valid_receipt, price_kop=price)
    fields = bad_fields(body)
    assert ("items[0].price_kop" in fields) is not ok


def test_total_must_be_positive(valid_receipt: Make) -> None:
    """Tag 1020 is above zero."""
    assert "total_kop" in bad_fields(valid_receipt(total_kop=0))


def test_a_receipt_needs_at_least_one_item_and_one_payment(valid_receipt: Make) -> None:
    """Empty item and payment lists are refused, each by name."""
    assert bad_fields(valid_receipt(items=[], payments=[])) == {"items", "payments"}


def test_at_most_ten_payments(valid_receipt: Make) -> None:
    """Eleven payment entries are refused."""
    items = one_item(price_kop=1_100, amount_kop=1_100)
    payments = [{"type": "electronic", "amount_kop": 100}] * 11
    assert bad_fields(valid_receipt(items=items, total_kop=1_100, payments=payments)) == {"payments"}


def test_item_count_is_limited_by_the_setting(valid_receipt: Make) -> None:
    """More items than ``api.max_items`` is refused on the ``items`` field."""
    items = one_item(price_kop=100, amount_kop=100) * 4
    body = valid_receipt(items=items, total_kop=400, payments=[{"type": "cash", "amount_kop": 400}])
    assert bad_fields(body, max_items=4) == set()
    assert bad_fields(body, max_items=3) == {"items"}


@pytest.mark.parametrize(("field", "value"), [("payment_object", 28), ("payment_object", 0), ("measure", 13)])
def test_item_codes_must_be_known(valid_receipt: Make, field: str, value: int) -> None:
    """Tags 1212 and 2108 accept only the codes of the FFD tables."""
    overrides: dict[str, Any] = {field: value}
    assert bad_fields(single(valid_receipt, **overrides)) == {f"items[0].{field}"}


def test_unknown_fields_are_refused(valid_receipt: Make) -> None:
    """A misspelt field is an error, not silently ignored."""
    assert bad_fields(valid_receipt(totl_kop=1)) == {"totl_kop"}


@pytest.mark.parametrize(("key", "ok"), [("pos1:2026-11-27:0042", True), ("a" * 65, False), ("чек", False)])
def test_body_id_has_the_key_shape(valid_receipt: Make, key: str, ok: bool) -> None:
    """The body ``id`` is 1–64 characters of a safe alphabet."""
    assert bad_fields(valid_receipt(id=key)) == (set() if ok else {"id"})


# --- VAT by date and taxation system ----------------------------------------------------------------------

DEC_31 = datetime(2025, 12, 31, 20, 0, tzinfo=UTC)
JAN_1 = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("vat", ["vat22", "vat122"])
def test_22_percent_is_valid_from_2026(valid_receipt: Make, vat: str) -> None:
    """22 % and 22/122 (tag 1199 = 11, 12) are refused before 2026-01-01 and accepted from that day."""
    body = single(valid_receipt, vat=vat)
    assert bad_fields(body, now=DEC_31) == {"items[0].vat"}
    assert bad_fields(body, now=JAN_1) == set()


@pytest.mark.parametrize("vat", ["vat20", "vat120"])
def test_20_percent_sales_stop_in_2026(valid_receipt: Make, vat: str) -> None:
    """20 % and 20/120 are fine for a 2025 sale and refused for a 2026 sale."""
    body = single(valid_receipt, vat=vat)
    assert bad_fields(body, now=DEC_31) == set()
    assert bad_fields(body, now=JAN_1) == {"items[0].vat"}


@pytest.mark.parametrize("operation", ["sell_return", "buy_return"])
def test_20_percent_stays_valid_on_returns_in_2026(valid_receipt: Make, operation: str) -> None:
    """A refund of a 2025 sale keeps its 20 % rate after the change."""
    assert bad_fields(single(valid_receipt, vat="vat20", operation=operation), now=JAN_1) == set()


def test_20_percent_on_a_2026_purchase_is_refused(valid_receipt: Make) -> None:
    """``buy`` is not a return: 20 % is refused for it too."""
    assert bad_fields(single(valid_receipt, vat="vat20", operation="buy"), now=JAN_1) == {"items[0].vat"}


@pytest.mark.parametrize("vat", ["vat5", "vat7", "vat105", "vat107"])
@pytest.mark.parametrize(
    ("tax_system", "ok"),
    [
        (TaxSystem.USN_INCOME, True),
        (TaxSystem.USN_INCOME_OUTCOME, True),
        (TaxSystem.OSN, False),
        (TaxSystem.PATENT, False),
        (TaxSystem.ESHN, False),
    ],
)
def test_5_and_7_percent_only_under_usn(valid_receipt: Make, vat: str, tax_system: TaxSystem, ok: bool) -> None:
    """5 %, 7 % and their fractions belong to the simplified system only (device default or body)."""
    body = single(valid_receipt, vat=vat)
    assert bad_fields(body, tax_system=tax_system) == (set() if ok else {"items[0].vat"})
    assert bad_fields({**body, "tax_system": tax_system.value}) == (set() if ok else {"items[0].vat"})


def test_each_bad_vat_line_is_named(valid_receipt: Make) -> None:
    """Two bad lines give two problems, each with its own index."""
    line = one_item("vat5")[0]
    body = valid_receipt(
        items=[one_item()[0], line, line], total_kop=30_000, payments=[{"type": "cash", "amount_kop": 30_000}]
    )
    assert bad_fields(body) == {"items[1].vat", "items[2].vat"}


# --- the sale time window ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "ok"),
    [
        (timedelta(0), True),
        (timedelta(minutes=9), True),
        (timedelta(minutes=11), False),
        (-timedelta(days=2, hours=23), True),
        (-timedelta(days=3, minutes=1), False),
    ],
)
def test_created_at_lies_in_the_window(valid_receipt: Make, offset: timedelta, ok: bool) -> None:
    """A sale time may be up to 3 days old and up to 10 minutes ahead (clock skew)."""
    body = valid_receipt(created_at=(NOW_2026 + offset).isoformat())
    assert bad_fields(body) == (set() if ok else {"created_at"})


def test_created_at_must_carry_an_offset(valid_receipt: Make) -> None:
    """A naive time is ambiguous on a box whose zone may be wrong."""
    assert bad_fields(valid_receipt(created_at="2026-11-27T12:00:00")) == {"created_at"}


def test_created_at_in_another_zone_is_compared_as_an_instant(valid_receipt: Make) -> None:
    """15:05 Moscow time is 12:05 UTC: within the skew of a 12:00 UTC clock."""
    assert bad_fields(valid_receipt(created_at="2026-11-27T15:05:00+03:00")) == set()


def test_the_model_keeps_money_as_int_and_quantity_as_decimal(valid_receipt: Make) -> None:
    """No float ever appears in a parsed receipt."""
    receipt = ReceiptIn.model_validate_json(json.dumps(valid_receipt()))
    assert all(type(i.price_kop) is int and type(i.amount_kop) is int for i in receipt.items)
    assert str(receipt.items[1].quantity) == "1.5"


def test_the_control_character_check_is_exactly_unicode_category_cc() -> None:
    """The fast check (one regular expression) refuses exactly the code points Unicode files under Cc."""
    control = {chr(code) for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) == "Cc"}
    matched = {chr(code) for code in range(sys.maxunicode + 1) if _CONTROL.search(chr(code))}
    assert matched == control
