"""Hand-written bad input against the intake API on a real uvicorn server: each gets a clear 4xx, nothing is written.

The server is the real app over a real SQLite buffer (``api_support.serve_api``) with the body limit raised
to 16 MB, so that a 10,000-line receipt or a 1 MB name reaches the validation (the daemon's default limit
answers 413 before that: see ``test_security.py``). The clock is fixed at 2026-11-27 12:00 UTC.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from daemon_harness import make_receipt
from reliability_support import assert_error_shape, row_counts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from api_support import ApiServer, serve_api  # the sibling test directory's helper

BIG_LIMIT = 16 * 1024 * 1024
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """One intake server for the module (no POS token, max 20 lines, 16 MB bodies)."""
    with serve_api(tmp_path_factory.mktemp("bad-input"), max_body_bytes=BIG_LIMIT) as server:
        yield server


@pytest.fixture
def client(api: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.base_url, timeout=30) as http:
        yield http


def receipt_json(**overrides: Any) -> bytes:
    """A valid receipt as UTF-8 JSON bytes (non-ASCII left raw, as a POS sends it)."""
    return json.dumps(make_receipt(**overrides), ensure_ascii=False).encode("utf-8")


def item(**overrides: Any) -> dict[str, Any]:
    """One valid line (59.90 × 2 = 119.80, VAT 10 %)."""
    line: dict[str, Any] = {"name": "Хлеб", "price_kop": 5_990, "quantity": "2", "amount_kop": 11_980, "vat": "vat10"}
    line.update(overrides)
    return line


def one_line(**overrides: Any) -> bytes:
    """A one-line receipt whose line takes ``overrides`` (total and payment left at 119.80)."""
    return receipt_json(items=[item(**overrides)], payments=[{"type": "cash", "amount_kop": 11_980}], total_kop=11_980)


def _utf8_broken() -> bytes:
    return receipt_json().replace("Хлеб".encode(), b"\xc3\x28\xff")


def _raw_nul() -> bytes:
    return receipt_json().replace("Хлеб".encode(), b"\x00")


def _huge_int_literal() -> bytes:
    return receipt_json().replace(b'"total_kop": 25405', b'"total_kop": 1' + b"0" * 5000)


def _deep_nesting() -> bytes:
    return b'{"operation": "sell", "items": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"


# name → (body bytes, field the answer must name or None when the body is not even a JSON object)
CASES: dict[str, tuple[Callable[[], bytes], str | None]] = {
    "malformed JSON": (lambda: b'{"operation": "sell", "items": [', None),
    "empty body": (lambda: b"", None),
    "JSON null": (lambda: b"null", None),
    "JSON array": (lambda: b"[]", None),
    "JSON string": (lambda: b'"receipt"', None),
    "JSON number": (lambda: b"42", None),
    # These three answered 400 "http_error" before (found by the fuzzer); now 422 naming the body.
    "invalid UTF-8 inside a string": (_utf8_broken, "body"),
    "raw NUL byte inside a string": (_raw_nul, None),
    "integer literal of 5,000 digits": (_huge_int_literal, "body"),
    "nesting 50,000 deep": (_deep_nesting, "body"),
    "escaped NUL in an item name": (lambda: one_line(name="Хлеб\u0000"), "items[0].name"),
    "control character in the cashier name": (lambda: receipt_json(cashier={"name": "A\u0007"}), "cashier.name"),
    "lone surrogate in a name": (
        lambda: json.dumps(make_receipt(items=[item(name="\ud800")], total_kop=11_980, payments=[])).encode(),
        "items[0].name",
    ),
    "total as a string": (lambda: receipt_json(total_kop="25405"), "total_kop"),
    "price as a float": (lambda: one_line(price_kop=59.9), "items[0].price_kop"),
    "amount as a boolean": (lambda: one_line(amount_kop=True), "items[0].amount_kop"),
    "items as an object": (lambda: receipt_json(items={"0": item()}), "items"),
    "payments null": (lambda: receipt_json(payments=None), "payments"),
    "operation unknown": (lambda: receipt_json(operation="steal"), "operation"),
    "total over 10^12 kopecks": (lambda: receipt_json(total_kop=10**12 + 1), "total_kop"),
    "price of 10^30 kopecks": (lambda: one_line(price_kop=10**30, amount_kop=10**30), "items[0].price_kop"),
    "payment of 10^30 kopecks": (lambda: receipt_json(payments=[{"type": "cash", "amount_kop": 10**30}]), "payments"),
    "negative price": (lambda: one_line(price_kop=-5_990, amount_kop=-11_980), "items[0].price_kop"),
    "negative total": (lambda: receipt_json(total_kop=-25_405), "total_kop"),
    "negative payment": (lambda: receipt_json(payments=[{"type": "cash", "amount_kop": -1}]), "payments[0].amount_kop"),
    "zero quantity": (lambda: one_line(quantity="0", amount_kop=0), "items[0].quantity"),
    "negative quantity": (lambda: one_line(quantity="-2"), "items[0].quantity"),
    "quantity NaN": (lambda: one_line(quantity="NaN"), "items[0].quantity"),
    "quantity Infinity": (lambda: one_line(quantity="Infinity"), "items[0].quantity"),
    "quantity with 4 decimals": (lambda: one_line(quantity="2.0001"), "items[0].quantity"),
    "quantity 1e400": (lambda: one_line(quantity="1e400"), "items[0].quantity"),
    "10,000 items": (lambda: receipt_json(items=[item()] * 10_000, total_kop=11_980 * 10_000), "items"),
    "1 MB item name": (lambda: one_line(name="Я" * 1_000_000), "items[0].name"),
    "line amount ≠ price × quantity": (lambda: one_line(amount_kop=17_000), "items[0].amount_kop"),
    "total ≠ sum of lines": (lambda: receipt_json(total_kop=25_406), "total_kop"),
    "payments short of the total": (
        lambda: receipt_json(payments=[{"type": "electronic", "amount_kop": 25_404}]),
        "payments",
    ),
    "change from a card payment": (
        lambda: receipt_json(payments=[{"type": "electronic", "amount_kop": 30_000}]),
        "payments",
    ),
    "created_at in 1970": (lambda: receipt_json(created_at="1970-01-01T00:00:00+00:00"), "created_at"),
    "created_at in year 1": (lambda: receipt_json(created_at="0001-01-01T00:00:00+14:00"), "created_at"),
    "created_at in 2999": (lambda: receipt_json(created_at="2999-01-01T00:00:00+03:00"), "created_at"),
    "created_at in year 9999": (lambda: receipt_json(created_at="9999-12-31T23:59:59-12:00"), "created_at"),
    "created_at without an offset": (lambda: receipt_json(created_at="2026-11-27T12:00:00"), "created_at"),
    "created_at not a date": (lambda: receipt_json(created_at="yesterday"), "created_at"),
    "VAT code unknown": (lambda: one_line(vat="vat18"), "items[0].vat"),
    "VAT as a number": (lambda: one_line(vat=11), "items[0].vat"),
    "VAT 20 % on a 2026 sale": (lambda: one_line(vat="vat20"), "items[0].vat"),
    "VAT 5 % outside the simplified system": (lambda: one_line(vat="vat5"), "items[0].vat"),
    "payment object code unknown": (lambda: one_line(payment_object=28), "items[0].payment_object"),
    "unknown top-level field": (lambda: receipt_json(discount_kop=100), "discount_kop"),
    "unknown item field": (lambda: one_line(barcode="4600000000000"), "items[0].barcode"),
    "customer contact neither phone nor e-mail": (lambda: receipt_json(customer_contact="call me"), "customer_contact"),
    "cashier INN of 11 digits": (
        lambda: receipt_json(cashier={"name": "Иванова", "inn": "12345678901"}),
        "cashier.inn",
    ),
    "unknown device": (lambda: receipt_json(device="kkt9"), "device"),
    "body id of a bad shape": (lambda: receipt_json(id="чек 1"), "id"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_a_clear_4xx_and_writes_nothing(case: str, client: httpx.Client, api: ApiServer) -> None:
    """Each bad body answers 4xx in the one error shape (naming the bad field) and the buffer is unchanged."""
    make_body, field = CASES[case]
    before = row_counts(api.db_path)
    response = client.post("/v1/receipts", content=make_body(), headers={**JSON, "Idempotency-Key": "bad-1"})
    assert 400 <= response.status_code < 500, (case, response.status_code, response.text[:300])
    body = assert_error_shape(response)
    if field is not None:
        assert response.status_code == 422, (case, response.text[:300])
        fields = [d["field"] for d in body["details"]]
        assert any(f == field or f.startswith((field + ".", field + "[")) for f in fields), (
            case,
            fields,
        )
    assert row_counts(api.db_path) == before, case
    assert client.get("/v1/receipts/bad-1").status_code == 404


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"content-type": "text/plain"}, {415, 422}),
        ({"content-type": "application/x-www-form-urlencoded"}, {415, 422}),
        ({"content-type": "application/json", "Idempotency-Key": "k" * 65}, {422}),
        ({"content-type": "application/json", "Idempotency-Key": "ключ"}, {422}),
    ],
    ids=["text/plain", "form", "key of 65 chars", "non-ASCII key"],
)
def test_wrong_content_type_or_key_is_4xx_and_writes_nothing(
    headers: dict[str, str], expected: set[int], client: httpx.Client, api: ApiServer
) -> None:
    """A valid receipt under a wrong content type or a malformed key header is refused in the error shape."""
    before = row_counts(api.db_path)
    headers = {"Idempotency-Key": "ct-1", **headers}
    raw = {k.encode("ascii"): v.encode("utf-8") for k, v in headers.items()}  # httpx refuses non-ASCII str headers
    response = client.post("/v1/receipts", content=receipt_json(), headers=raw)
    assert response.status_code in expected, response.text
    assert_error_shape(response)
    assert row_counts(api.db_path) == before


@pytest.mark.parametrize("wait", ["-1", "nan", "inf", "1e309", "601", "soon"])
def test_a_bad_wait_parameter_is_422_and_writes_nothing(wait: str, client: httpx.Client, api: ApiServer) -> None:
    """``?wait=`` outside 0–600 s or not a number is refused before the receipt is stored."""
    before = row_counts(api.db_path)
    response = client.post(
        f"/v1/receipts?wait={wait}", content=receipt_json(), headers={**JSON, "Idempotency-Key": "w"}
    )
    assert response.status_code == 422, response.text
    assert any(d["field"] == "query.wait" for d in assert_error_shape(response)["details"])
    assert row_counts(api.db_path) == before


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=501", "limit=-1", "after=-1", "after=99999999999999999999", "state=lost"]
)
def test_bad_listing_parameters_are_422(query: str, client: httpx.Client) -> None:
    """Out-of-range or unknown listing parameters answer 422 in the error shape, never 500."""
    response = client.get(f"/v1/receipts?{query}")
    assert response.status_code == 422, response.text
    assert_error_shape(response)


def test_a_method_not_allowed_names_every_method_of_the_path(client: httpx.Client) -> None:
    """Regression (found by the fuzzer): 405 on /v1/receipts listed only POST in ``Allow``, not GET."""
    response = client.request("OPTIONS", "/v1/receipts")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert_error_shape(response)


def test_the_same_valid_receipt_is_written_so_the_row_count_can_fail(client: httpx.Client, api: ApiServer) -> None:
    """Control: a valid receipt with the headers used above is stored (the unchanged-count checks can fail)."""
    before = row_counts(api.db_path)
    response = client.post("/v1/receipts", content=receipt_json(), headers={**JSON, "Idempotency-Key": "good-1"})
    assert response.status_code == 202, response.text
    receipts, events = row_counts(api.db_path)
    assert receipts == before[0] + 1
    assert events > before[1]
