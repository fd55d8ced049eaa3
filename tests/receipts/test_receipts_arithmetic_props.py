"""Property tests of the receipt arithmetic: generated valid receipts pass; each perturbation names its field."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from receipt_support import bad_fields

from kkt_adapter.receipts.model import ReceiptIn
from kkt_adapter.receipts.rules import check_arithmetic, line_amount_kop

NON_CASH = ["electronic", "prepayment", "credit", "counter_provision"]
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

quantities = st.integers(min_value=1, max_value=99_999_999).map(lambda milli: Decimal(milli).scaleb(-3).normalize())


@dataclass(frozen=True)
class Line:
    price_kop: int
    quantity: Decimal
    amount_kop: int

    def as_json(self) -> dict[str, Any]:
        return {
            "name": "Товар",
            "price_kop": self.price_kop,
            "quantity": str(self.quantity),
            "amount_kop": self.amount_kop,
            "vat": "vat10",
        }


@st.composite
def lines(draw: st.DrawFn) -> Line:
    """A line whose amount is price × quantity rounded, off by at most one kopeck."""
    price = draw(st.integers(min_value=0, max_value=1_000_000))
    quantity = draw(quantities)
    exact = line_amount_kop(price, quantity)
    return Line(price, quantity, max(0, exact + draw(st.sampled_from([-1, 0, 1]))))


@dataclass(frozen=True)
class Plan:
    """How a receipt is paid: non-cash shares (weights), whether cash takes part, the change given."""

    weights: tuple[int, ...]
    cash: bool
    change_kop: int


plans = st.builds(
    Plan,
    weights=st.lists(st.integers(1, 100), min_size=0, max_size=4).map(tuple),
    cash=st.booleans(),
    change_kop=st.integers(0, 500_000),
).filter(lambda p: p.cash or p.weights)


def payments_for(total_kop: int, plan: Plan) -> list[dict[str, Any]]:
    """Split ``total_kop`` by the plan's weights (cash last, plus the change); every part is positive."""
    parts = list(plan.weights) + ([1] if plan.cash else [])
    shares = [total_kop * w // sum(parts) for w in parts]
    shares[-1] += total_kop - sum(shares)
    payments = []
    for index, share in enumerate(shares):
        is_cash = plan.cash and index == len(shares) - 1
        amount = share + (plan.change_kop if is_cash else 0)
        if amount > 0:
            kind = "cash" if is_cash else NON_CASH[index % len(NON_CASH)]
            payments.append({"type": kind, "amount_kop": amount})
    return payments


def receipt_of(items: list[Line], plan: Plan, total_kop: int | None = None) -> dict[str, Any]:
    total = sum(line.amount_kop for line in items) if total_kop is None else total_kop
    return {
        "operation": "sell",
        "items": [line.as_json() for line in items],
        "payments": payments_for(total, plan),
        "total_kop": total,
    }


receipt_lines = st.lists(lines(), min_size=1, max_size=8).filter(lambda ls: sum(x.amount_kop for x in ls) > 0)


@PROPS
@given(receipt_lines, plans)
def test_generated_valid_receipts_pass(items: list[Line], plan: Plan) -> None:
    """Lines within ±1 kopeck, a matching total and payments that cover it (change from cash) pass every rule."""
    body = receipt_of(items, plan)
    assume(len(body["payments"]) <= 10)
    assert bad_fields(body) == set()
    assert check_arithmetic(ReceiptIn.model_validate(body)) == []


@PROPS
@given(receipt_lines, plans, st.data())
def test_a_line_off_by_two_kopecks_or_more_names_that_line(items: list[Line], plan: Plan, data: st.DataObject) -> None:
    """An amount off price × quantity by ≥ 2 kopecks is reported on ``items[i].amount_kop`` alone."""
    index = data.draw(st.integers(0, len(items) - 1))
    line = items[index]
    exact = line_amount_kop(line.price_kop, line.quantity)
    off = data.draw(st.integers(2, 1_000_000).flatmap(lambda d: st.sampled_from([d, -d])))
    assume(exact + off >= 0)
    items = [*items[:index], Line(line.price_kop, line.quantity, exact + off), *items[index + 1 :]]
    assume(sum(x.amount_kop for x in items) > 0)
    assert bad_fields(receipt_of(items, plan)) == {f"items[{index}].amount_kop"}


@PROPS
@given(receipt_lines, plans, st.integers(1, 1_000_000).flatmap(lambda d: st.sampled_from([d, -d])))
def test_a_total_that_is_not_the_sum_of_lines_names_total(items: list[Line], plan: Plan, delta: int) -> None:
    """A total different from Σ lines (paid in full) is reported on ``total_kop`` alone."""
    total = sum(x.amount_kop for x in items) + delta
    assume(total > 0)
    assert bad_fields(receipt_of(items, plan, total_kop=total)) == {"total_kop"}


@PROPS
@given(receipt_lines, plans, st.data())
def test_underpayment_names_payments(items: list[Line], plan: Plan, data: st.DataObject) -> None:
    """Payments below the total are reported on ``payments``."""
    body = receipt_of(items, plan)
    payments = body["payments"]
    index = data.draw(st.integers(0, len(payments) - 1))
    paid = sum(p["amount_kop"] for p in payments)
    short = data.draw(st.integers(paid - body["total_kop"] + 1, paid))
    assume(payments[index]["amount_kop"] > short)
    payments[index] = {**payments[index], "amount_kop": payments[index]["amount_kop"] - short}
    assert bad_fields(body) == {"payments"}


@PROPS
@given(receipt_lines, plans, st.integers(1, 1_000_000))
def test_change_beyond_the_cash_paid_names_payments(items: list[Line], plan: Plan, extra: int) -> None:
    """Overpaying by more than the cash part (change only from cash) is reported on ``payments``."""
    body = receipt_of(items, plan)
    cash = sum(p["amount_kop"] for p in body["payments"] if p["type"] == "cash")
    body["payments"] = [*body["payments"], {"type": "electronic", "amount_kop": cash + extra}]
    assume(len(body["payments"]) <= 10)
    assert bad_fields(body) == {"payments"}


@PROPS
@given(st.integers(0, 10_000_000), quantities)
def test_line_amount_is_exact_half_up_rounding(price_kop: int, quantity: Decimal) -> None:
    """``line_amount_kop`` is price × quantity rounded half-up, computed exactly (no float)."""
    exact = Decimal(price_kop) * quantity
    amount = line_amount_kop(price_kop, quantity)
    assert abs(Decimal(amount) - exact) <= Decimal("0.5")
    assert (Decimal(amount) - exact) != Decimal("-0.5")
