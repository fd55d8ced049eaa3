"""The intake's fast way in: it takes only what the full stack would take, the rest goes to the full stack."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import serve_api
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import Message, Receive, Scope, Send

from kkt_adapter.api.intake_route import declared_length, parse_receipt
from kkt_adapter.api.origin import LOOPBACK_HOSTS, plain_names, plainly_allowed

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


def starlette_accepts(host: str, hosts: list[str]) -> bool:
    """What Starlette's own ``TrustedHostMiddleware`` (the full stack's guard) decides for this Host header."""
    reached: list[bool] = []

    async def app(_scope: Scope, _receive: Receive, _send: Send) -> None:
        reached.append(True)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_message: Message) -> None:
        return None

    scope = {"type": "http", "method": "POST", "path": "/v1/receipts", "headers": [(b"host", host.encode("latin-1"))]}
    asyncio.run(TrustedHostMiddleware(app, allowed_hosts=hosts, www_redirect=False)(scope, receive, send))
    return bool(reached)


HOSTS = [*LOOPBACK_HOSTS, "pos.shop.local"]
HOST_TEXT = st.text(alphabet="0123456789.:[]abcdefhlostxyzLOCAH-²", max_size=24)
KNOWN = st.sampled_from([*HOSTS, "localhost:8710", "[::1]:8710", "127.0.0.1:", "::1:80", "LOCALHOST:1"])


@settings(max_examples=400, deadline=None)
@given(host=st.one_of(KNOWN, HOST_TEXT, st.builds(lambda a, b: a + b, KNOWN, HOST_TEXT)))
def test_the_front_takes_a_host_only_when_starlettes_guard_would(host: str) -> None:
    """Every Host header the fast way in accepts, ``TrustedHostMiddleware`` accepts too (never the reverse
    needed: what the front declines goes to the middleware)."""
    if plainly_allowed(host, plain_names(HOSTS)):
        assert starlette_accepts(host, HOSTS), host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8710", "localhost:8710", "[::1]:8710", "LocalHost"])
def test_the_loopback_names_a_pos_sends_are_taken(host: str) -> None:
    """The Host headers POS programs send to the loopback daemon take the fast way (the common case)."""
    assert plainly_allowed(host, plain_names(LOOPBACK_HOSTS))


@pytest.mark.parametrize(
    ("values", "expected"),
    [([b"512"], 512), ([b"1024"], 1024), ([b"1025"], None), ([], None), ([b"12", b"12"], None), ([b"+5"], None)],
)
def test_only_one_plain_content_length_within_the_limit_is_taken(values: list[bytes], expected: int | None) -> None:
    """A chunked body, a length over the limit or a doubtful header is left to the body-size guard."""

    headers = Headers(raw=[(b"content-length", v) for v in values])
    assert declared_length(headers, 1024) == expected


def test_the_front_and_the_full_stack_answer_alike(client: httpx.Client, valid_receipt: Make) -> None:
    """The same receipt through the front (``application/json``) and through the documented FastAPI route
    (another JSON media type): the same status, headers and body but for the key and the times."""

    def answer(key: str, content_type: str) -> tuple[int, dict[str, str], dict[str, Any]]:
        body = json.dumps(valid_receipt()).encode()
        response = client.post(
            "/v1/receipts", content=body, headers={"Content-Type": content_type, "Idempotency-Key": key}
        )
        skip = ("date", "content-length")
        headers = {k: v.replace(key, "KEY") for k, v in response.headers.items() if k not in skip}
        data = {k: v for k, v in response.json().items() if k not in ("id", "created_at", "updated_at")}
        return response.status_code, headers, data

    assert answer("via-front", "application/json") == answer("via-stack", "application/vnd.pos+json")
