"""The fast intake route: it takes only what FastAPI would take as a valid receipt, the rest goes to FastAPI."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import serve_api

from kkt_adapter.api.intake_route import parse_receipt

Make = Callable[..., dict[str, Any]]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    with serve_api(tmp_path) as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        yield http


def test_a_valid_json_receipt_is_parsed(valid_receipt: Make) -> None:
    """A JSON content type (with a charset) and a valid body give the receipt."""
    receipt = parse_receipt("application/json; charset=utf-8", json.dumps(valid_receipt()).encode())
    assert receipt is not None
    assert receipt.total_kop == valid_receipt()["total_kop"]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (None, b'{"a": 1}'),
        ("text/plain", b"{}"),
        ("application/problem+json", b"{}"),
        ("application/json", b""),
        ("application/json", b'{"operation": "sell"'),
        ("application/json", b"\xff\xfe"),
        ("application/json", b"[1, 2]"),
        ("application/json", b'{"operation": "sell"}'),
    ],
)
def test_anything_else_is_left_to_the_documented_route(content_type: str | None, body: bytes) -> None:
    """Another content type, an empty, malformed or invalid body: not parsed here (FastAPI answers it)."""
    assert parse_receipt(content_type, body) is None


def test_a_plus_json_body_is_answered_by_fastapi_as_before(client: httpx.Client, valid_receipt: Make) -> None:
    """A valid receipt sent as ``application/vnd.pos+json`` goes through FastAPI and is stored the same way."""
    body = json.dumps(valid_receipt()).encode()
    headers = {"Content-Type": "application/vnd.pos+json", "Idempotency-Key": "plus-json-1"}
    response = client.post("/v1/receipts", content=body, headers=headers)
    assert response.status_code == 202
    assert response.json()["id"] == "plus-json-1"


def test_malformed_json_gets_fastapis_validation_answer(client: httpx.Client) -> None:
    """Malformed JSON is handed, body and all, to the documented route: FastAPI's 422 names the position."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": "bad-json-1"}
    response = client.post("/v1/receipts", content=b'{"operation": ', headers=headers)
    assert response.status_code == 422
    assert response.json()["error"] == "validation_failed"
    assert response.json()["details"][0]["field"] == "[14]"


def test_a_body_nested_beyond_the_decoders_depth_is_left_to_fastapi() -> None:
    """JSON nested 5,000 deep makes ``json.loads`` recurse past the interpreter's limit: not parsed here."""
    assert parse_receipt("application/json", b"[" * 5_000 + b"]" * 5_000) is None


def test_a_deeply_nested_body_gets_the_422_not_a_500(client: httpx.Client) -> None:
    """Nesting beyond the decoder's depth is FastAPI's 422 naming the body, never an internal error."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": "deep-1"}
    response = client.post("/v1/receipts", content=b"[" * 5_000 + b"]" * 5_000, headers=headers)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "body"


def test_the_openapi_operation_is_the_documented_one(client: httpx.Client) -> None:
    """The schema still documents POST /v1/receipts with the ReceiptIn body and the hand-read parameters."""
    operation = client.get("/openapi.json").json()["paths"]["/v1/receipts"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ReceiptIn"
    }
    assert {p["name"] for p in operation["parameters"]} == {"Idempotency-Key", "wait"}
