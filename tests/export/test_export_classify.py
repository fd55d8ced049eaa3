"""Classification of every OFD answer and transport error into Delivered / RetryLater / Permanent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from kkt_adapter.export.build import build_document
from kkt_adapter.export.client import ExportClient, ExportClientConfig
from kkt_adapter.export.outcome import AuthRefused, Delivered, Outcome, Permanent, RetryLater, classify, retry_after_s
from kkt_adapter.export.sim.samples import sample_fiscalized

TICKET = {"id": "9999078900012345-1", "ticket": "T1", "received_at": "2026-01-15T09:00:00Z"}
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
TOKEN = "s3cret"


def _response(status: int, json: object = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=json, headers=headers)


@pytest.mark.parametrize("status", [200, 201])
def test_accepted_and_already_have_it_are_delivered_with_the_ticket(status: int) -> None:
    """201 (accepted) and 200 (same id, same content) both yield the OFD's ticket."""
    outcome = classify(_response(status, TICKET))
    assert isinstance(outcome, Delivered)
    assert outcome.ticket == "T1"


def test_success_without_a_ticket_is_retried_and_counts_against_the_breaker() -> None:
    """A 2xx with an unreadable body is a protocol problem: retry later, unhealthy."""
    outcome = classify(_response(201, {"nothing": 1}))
    assert isinstance(outcome, RetryLater)
    assert outcome.unhealthy


@pytest.mark.parametrize("status", [400, 404, 409, 413, 422])
def test_client_errors_are_permanent(status: int) -> None:
    """Validation, conflict and other 4xx answers are permanent for the document."""
    outcome = classify(_response(status, {"error": "x"}))
    assert isinstance(outcome, Permanent)
    assert outcome.status == status
    assert str(status) in outcome.reason


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_a_configuration_error_not_the_documents(status: int) -> None:
    """401/403 say our token is wrong: AuthRefused (the sync pauses and keeps the document), not Permanent."""
    outcome = classify(_response(status, {"error": "x"}))
    assert isinstance(outcome, AuthRefused)
    assert outcome.status == status


def test_rate_limit_is_retried_after_the_servers_delay_without_tripping_the_breaker() -> None:
    """429 with Retry-After is a healthy server asking us to wait that many seconds."""
    outcome = classify(_response(429, {"error": "rate_limited"}, {"Retry-After": "7"}))
    assert outcome == RetryLater(7.0, "429 rate limited", False, 429, outcome.response)


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_server_errors_are_retried_and_unhealthy(status: int) -> None:
    """408 and 5xx are transient and count against the breaker."""
    outcome = classify(_response(status))
    assert isinstance(outcome, RetryLater)
    assert outcome.unhealthy
    assert outcome.delay_s is None


def test_unavailable_honours_an_http_date_retry_after() -> None:
    """A Retry-After given as an HTTP date becomes seconds from ``now``."""
    outcome = classify(_response(503, headers={"Retry-After": "Thu, 15 Jan 2026 09:00:30 GMT"}), NOW)
    assert isinstance(outcome, RetryLater)
    assert outcome.delay_s == 30.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("0", 0.0), ("12", 12.0), ("soon", None), ("Thu, 15 Jan 2026 08:59:00 GMT", 0.0)],
)
def test_retry_after_parsing(value: str | None, expected: float | None) -> None:
    """Retry-After: delta seconds, HTTP dates in the past clamp to 0, garbage is ignored."""
    assert retry_after_s(value, NOW) == expected


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow connect"),
        httpx.ReadTimeout("slow read"),
        httpx.PoolTimeout("pool"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("server hung up"),
        httpx.ProxyError("proxy"),
    ],
)
def test_transport_errors_are_retried_and_unhealthy(error: Exception) -> None:
    """Timeouts, refused or reset connections and broken responses are transient."""
    outcome = classify(error)
    assert isinstance(outcome, RetryLater)
    assert outcome.unhealthy
    assert type(error).__name__ in outcome.reason


@pytest.mark.parametrize(
    "error",
    [httpx.UnsupportedProtocol("ftp"), httpx.LocalProtocolError("bad header"), httpx.InvalidURL("x")],
)
def test_client_configuration_errors_are_permanent(error: Exception) -> None:
    """An unusable URL or a request we cannot even send will not improve by retrying."""
    assert isinstance(classify(error), Permanent)


def _submit_through(handler: httpx.MockTransport, token: str | None = TOKEN) -> Outcome:
    async def run() -> Outcome:
        config = ExportClientConfig(base_url="http://ofd.test", token=token)
        async with ExportClient(config, transport=handler) as client:
            return await client.submit(build_document(sample_fiscalized(0)))

    return asyncio.run(run())


def test_client_posts_the_document_with_the_bearer_token_and_classifies_the_answer() -> None:
    """The client sends the canonical document to /v1/documents with the token and returns Delivered."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=TICKET)

    outcome = _submit_through(httpx.MockTransport(handler))
    assert isinstance(outcome, Delivered)
    assert seen[0].url.path == "/v1/documents"
    assert seen[0].headers["authorization"] == "Bearer s3cret"
    assert b'"id":"9999078900012345-1"' in seen[0].content.replace(b" ", b"")


def test_client_turns_a_transport_error_into_an_outcome() -> None:
    """A refused connection comes back as RetryLater, not as an exception."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    assert isinstance(_submit_through(httpx.MockTransport(handler)), RetryLater)


def test_client_repr_never_shows_the_token() -> None:
    """The token stays out of the client's repr and the config's repr."""
    config = ExportClientConfig(base_url="http://ofd.test", token="s3cret")
    client = ExportClient(config)
    try:
        assert "s3cret" not in repr(client)
        assert "s3cret" not in repr(config)
    finally:
        asyncio.run(client.aclose())
