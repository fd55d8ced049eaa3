"""The intake API over a real uvicorn server: status codes, the one error shape, idempotency, limits, tokens."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import ApiServer, serve_api
from prereq import missing

Make = Callable[..., dict[str, Any]]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiServer]:
    """The intake app with a 1,000-receipt buffer and no POS token."""
    with serve_api(tmp_path) as server:
        yield server


@pytest.fixture
def client(api: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.base_url, timeout=10) as http:
        yield http


def post(client: httpx.Client, body: Any, key: str | None = None, **headers: str) -> httpx.Response:
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/v1/receipts", json=body, headers=headers)


def assert_error_shape(response: httpx.Response, status: int, code: str) -> list[dict[str, str]]:
    """The documented error body: error, message, details (each with field and reason)."""
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert all(set(d) == {"field", "reason"} for d in body["details"])
    return list(body["details"])


def stored_keys(client: httpx.Client) -> list[str]:
    return [r["id"] for r in client.get("/v1/receipts", params={"limit": 500}).json()["items"]]


def test_a_new_receipt_is_accepted_with_202_and_location(client: httpx.Client, valid_receipt: Make) -> None:
    """A new key answers 202, state accepted, and a Location that serves the receipt."""
    response = post(client, valid_receipt(), "pos1-0001")
    assert response.status_code == 202
    assert response.headers["location"] == "/v1/receipts/pos1-0001"
    assert (response.json()["id"], response.json()["state"]) == ("pos1-0001", "accepted")
    fetched = client.get(response.headers["location"])
    assert fetched.status_code == 200
    assert fetched.json()["total_kop"] == valid_receipt()["total_kop"]


def test_a_replay_answers_200_with_the_stored_receipt(client: httpx.Client, valid_receipt: Make) -> None:
    """The same key and body again is 200 with the same receipt, and nothing new is stored."""
    first = post(client, valid_receipt(), "k1")
    again = post(client, valid_receipt(), "k1")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["created_at"] == first.json()["created_at"]
    assert again.headers["location"] == "/v1/receipts/k1"
    assert stored_keys(client) == ["k1"]


def test_a_replay_with_reordered_json_is_still_the_same_body(client: httpx.Client, valid_receipt: Make) -> None:
    """Field order and spacing of the JSON do not make a different body."""
    body = valid_receipt()
    assert post(client, body, "k1").status_code == 202
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)
    response = client.post(
        "/v1/receipts", content=reordered, headers={"Idempotency-Key": "k1", "Content-Type": "application/json"}
    )
    assert response.status_code == 200


def test_the_same_key_with_another_body_is_409(client: httpx.Client, valid_receipt: Make) -> None:
    """A key already used by a different receipt is a conflict in the error shape; the stored one is kept."""
    assert post(client, valid_receipt(), "k1").status_code == 202
    other = valid_receipt(customer_contact="buyer@example.ru")
    assert_error_shape(post(client, other, "k1"), 409, "idempotency_conflict")
    assert client.get("/v1/receipts/k1").json()["id"] == "k1"
    assert stored_keys(client) == ["k1"]


def test_the_body_id_serves_as_the_key(client: httpx.Client, valid_receipt: Make) -> None:
    """Without the header the body's ``id`` is the key, with the same replay rules."""
    assert post(client, valid_receipt(id="body-key")).status_code == 202
    assert post(client, valid_receipt(id="body-key")).status_code == 200
    assert post(client, valid_receipt(id="body-key"), "body-key").status_code == 200
    assert stored_keys(client) == ["body-key"]


@pytest.mark.parametrize(
    ("header", "body_id", "field"),
    [
        (None, None, "Idempotency-Key"),
        ("k1", "k2", "id"),
        ("bad key with spaces", None, "Idempotency-Key"),
        ("x" * 65, None, "Idempotency-Key"),
    ],
)
def test_key_rules_are_422_naming_the_field(
    client: httpx.Client, valid_receipt: Make, header: str | None, body_id: str | None, field: str
) -> None:
    """No key, a header and body id that differ, or a malformed key: 422 naming the field; nothing stored."""
    body = valid_receipt(id=body_id) if body_id else valid_receipt()
    details = assert_error_shape(post(client, body, header), 422, "validation_failed")
    assert [d["field"] for d in details] == [field]
    assert stored_keys(client) == []


def test_a_bad_receipt_is_422_listing_each_bad_field(client: httpx.Client, valid_receipt: Make) -> None:
    """Model errors name every bad field by path, with a reason, in the documented shape; nothing is stored."""
    body = valid_receipt(customer_contact="not-a-contact", colour="red")
    body["items"][0] = {**body["items"][0], "name": "x" * 129, "vat": "vat13"}
    body["items"][1] = {**body["items"][1], "quantity": "1.0001"}
    details = assert_error_shape(post(client, body, "k1"), 422, "validation_failed")
    assert {d["field"] for d in details} == {
        "customer_contact",
        "colour",
        "items[0].name",
        "items[0].vat",
        "items[1].quantity",
    }
    assert all(d["reason"] for d in details)
    assert stored_keys(client) == []


def test_arithmetic_errors_are_422_naming_the_fields(client: httpx.Client, valid_receipt: Make) -> None:
    """A wrong line amount and short payments are named by path after the model accepted the shape."""
    body = valid_receipt(payments=[{"type": "electronic", "amount_kop": 100}])
    body["items"][1] = {**body["items"][1], "amount_kop": 13_000}
    body["total_kop"] = 11_980 + 13_000
    details = assert_error_shape(post(client, body, "k1"), 422, "validation_failed")
    assert {d["field"] for d in details} == {"items[1].amount_kop", "payments"}
    assert stored_keys(client) == []


def test_invalid_json_is_422_in_the_error_shape(client: httpx.Client) -> None:
    """A body that is not JSON gets the same error shape."""
    response = client.post(
        "/v1/receipts", content=b"{not json", headers={"Idempotency-Key": "k1", "Content-Type": "application/json"}
    )
    assert_error_shape(response, 422, "validation_failed")


def test_an_oversized_body_with_content_length_is_413(client: httpx.Client, api: ApiServer) -> None:
    """A declared length above ``api.max_body_bytes`` is refused before the body is read."""
    big = b"x" * (api.settings.api.max_body_bytes + 1)
    response = client.post("/v1/receipts", content=big, headers={"Content-Type": "application/json"})
    assert_error_shape(response, 413, "body_too_large")


def test_an_oversized_chunked_body_is_413(client: httpx.Client, api: ApiServer) -> None:
    """A chunked body (no Content-Length) that grows past the limit is refused with 413, not 400 or 500."""
    chunk = b" " * 8192
    count = api.settings.api.max_body_bytes // len(chunk) + 2

    def stream() -> Iterator[bytes]:
        yield from (chunk for _ in range(count))

    response = client.post("/v1/receipts", content=stream(), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_error_shape(response, 413, "body_too_large")
    assert stored_keys(client) == []


def test_a_chunked_body_within_the_limit_is_accepted(client: httpx.Client, valid_receipt: Make) -> None:
    """Streaming a valid receipt in small chunks works like a plain request."""
    data = json.dumps(valid_receipt()).encode()

    def stream() -> Iterator[bytes]:
        yield from (data[i : i + 50] for i in range(0, len(data), 50))

    response = client.post(
        "/v1/receipts", content=stream(), headers={"Idempotency-Key": "k1", "Content-Type": "application/json"}
    )
    assert response.status_code == 202


def test_a_full_buffer_answers_503_with_retry_after(tmp_path: Path, valid_receipt: Make) -> None:
    """At capacity a new receipt gets 503, a Retry-After header and a clear message; replays still answer."""
    with serve_api(tmp_path, capacity=10) as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        for n in range(10):
            assert post(http, valid_receipt(), f"k{n}").status_code == 202
        full = post(http, valid_receipt(), "k10")
        assert_error_shape(full, 503, "buffer_full")
        assert int(full.headers["retry-after"]) > 0
        assert "full" in full.json()["message"]
        assert post(http, valid_receipt(), "k3").status_code == 200


def test_the_pos_token_when_configured(tmp_path: Path, valid_receipt: Make) -> None:
    """With a POS token: none is 401, a wrong one 403, the right one accepted; GETs need it too."""
    with serve_api(tmp_path, pos_token="s3cret-pos") as server, httpx.Client(base_url=server.base_url) as http:
        assert_error_shape(post(http, valid_receipt(), "k1"), 401, "unauthorized")
        assert_error_shape(post(http, valid_receipt(), "k1", Authorization="Bearer nope"), 403, "forbidden")
        assert_error_shape(post(http, valid_receipt(), "k1", Authorization="Basic s3cret-pos"), 401, "unauthorized")
        assert post(http, valid_receipt(), "k1", Authorization="Bearer s3cret-pos").status_code == 202
        assert http.get("/v1/receipts/k1").status_code == 401
        assert http.get("/v1/receipts/k1", headers={"Authorization": "Bearer s3cret-pos"}).status_code == 200
        assert http.get("/health/live").status_code == 200  # probes stay open


def test_an_unknown_receipt_is_404_in_the_error_shape(client: httpx.Client) -> None:
    """GET of a key never stored is 404."""
    assert_error_shape(client.get("/v1/receipts/nope"), 404, "not_found")


def test_listing_pages_and_filters_by_state(client: httpx.Client, valid_receipt: Make) -> None:
    """``limit`` and ``after=next_after`` walk every receipt once in order; ``state`` filters; a bad state is 422."""
    for n in range(5):
        assert post(client, valid_receipt(), f"k{n}").status_code == 202
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    for _ in range(10):
        page = client.get("/v1/receipts", params=params).json()
        seen += [r["id"] for r in page["items"]]
        if page["next_after"] is None:
            break
        params["after"] = page["next_after"]
    assert seen == [f"k{n}" for n in range(5)]
    assert len(client.get("/v1/receipts", params={"state": "accepted"}).json()["items"]) == 5
    assert client.get("/v1/receipts", params={"state": "printing"}).json() == {"items": [], "next_after": None}
    assert_error_shape(client.get("/v1/receipts", params={"state": "lost"}), 422, "validation_failed")
    assert_error_shape(client.get("/v1/receipts", params={"limit": 0}), 422, "validation_failed")


def test_health_probes_answer(client: httpx.Client) -> None:
    """Liveness and readiness answer 200 while the buffer is open."""
    assert client.get("/health/live").json() == {"status": "alive"}
    assert client.get("/health/ready").status_code == 200


def test_a_replay_is_answered_even_when_the_receipt_would_now_be_refused(tmp_path: Path, valid_receipt: Make) -> None:
    """Once stored, a receipt's replay is 200 after its sale time left the window; a new key with it is 422."""
    now = [datetime(2026, 11, 27, 12, 0, tzinfo=UTC)]
    body = valid_receipt(created_at="2026-11-27T11:59:00+00:00")
    with serve_api(tmp_path, clock=lambda: now[0]) as server, httpx.Client(base_url=server.base_url) as http:
        assert post(http, body, "k1").status_code == 202
        now[0] += timedelta(days=4)
        assert post(http, body, "k1").status_code == 200
        changed = valid_receipt(created_at="2026-11-27T11:58:00+00:00")
        assert_error_shape(post(http, changed, "k1"), 409, "idempotency_conflict")
        details = assert_error_shape(post(http, body, "k2"), 422, "validation_failed")
        assert [d["field"] for d in details] == ["created_at"]


def test_an_unknown_device_is_422_naming_the_field(client: httpx.Client, valid_receipt: Make) -> None:
    """A receipt for a device that is not configured is refused on ``device``."""
    details = assert_error_shape(post(client, valid_receipt(device="kkt9"), "k1"), 422, "validation_failed")
    assert [d["field"] for d in details] == ["device"]


def test_a_disk_that_refuses_writes_answers_503_with_retry_after(tmp_path: Path, valid_receipt: Make) -> None:
    """Unwritable database: 503 + Retry-After and a clear message for new receipts, 200 for replays; then it heals."""
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        missing("making a file unwritable for root needs chattr +i as root")
    with serve_api(tmp_path) as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        assert post(http, valid_receipt(), "k0").status_code == 202
        files = [str(server.db_path), f"{server.db_path}-wal"]
        subprocess.run(["chattr", "+i", *files], check=True, timeout=10)
        try:
            refused = post(http, valid_receipt(), "k1")
            replay = post(http, valid_receipt(), "k0")
        finally:
            subprocess.run(["chattr", "-i", *files], check=True, timeout=10)
        assert_error_shape(refused, 503, "storage_unavailable")
        assert int(refused.headers["retry-after"]) > 0
        assert "cannot be written" in refused.json()["message"]
        assert replay.status_code == 200  # a receipt stored before is still confirmed from the file
        assert post(http, valid_receipt(), "k1").status_code == 202


def test_a_name_the_kkt_cannot_encode_is_422_naming_it(client: httpx.Client, valid_receipt: Make) -> None:
    """An item name with a character outside cp1251 (what FF46 carries) is 422 at items[0].name; nothing stored."""
    body = valid_receipt()
    body["items"][0] = {**body["items"][0], "name": "Молоко 🥛"}
    details = assert_error_shape(post(client, body, "k1"), 422, "validation_failed")
    assert [d["field"] for d in details] == ["items[0].name"]
    assert stored_keys(client) == []
