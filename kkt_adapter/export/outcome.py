"""What one submission came to, as data, and the one pure function that decides it.

Every HTTP answer and every transport error maps to exactly one of::

    Outcome
    ├── Delivered(ticket)                 201 accepted, 200 already have it (same id, same content)
    ├── RetryLater(delay_s, reason, unhealthy)
    │     unhealthy=True  → counts against the circuit breaker: transport errors, timeouts, 5xx,
    │                       408, a 2xx without a readable ticket
    │     unhealthy=False → the export endpoint is up but asks us to wait: 429 (delay from Retry-After)
    ├── AuthRefused(reason)               401/403: our token was refused — a configuration error, not the
    │                                     document's: the sync pauses and keeps it (sync/credentials.py)
    └── Permanent(reason)                 422 validation, 409 same id other content, other 4xx,
                                          unusable URL or local protocol bug

``delay_s`` is the server's ``Retry-After`` when it sent one (seconds or an HTTP date), else None and
the caller's backoff decides. ``classify`` reads no clock: pass ``now`` to resolve HTTP-date values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx
from pydantic import ValidationError

from kkt_adapter.export.contract import Ticket

MAX_BODY_CHARS = 2000


@dataclass(frozen=True)
class Delivered:
    """The export endpoint holds the document; ``ticket`` is its acknowledgement id."""

    ticket: str
    status: int
    response: str


@dataclass(frozen=True)
class RetryLater:
    """Try the same document id again later; ``delay_s`` is the server's wish if it stated one."""

    delay_s: float | None
    reason: str
    unhealthy: bool = True
    status: int | None = None
    response: str | None = None


@dataclass(frozen=True)
class Permanent:
    """Resubmitting the same content will not help: dead-letter it with this reason."""

    reason: str
    status: int | None = None
    response: str | None = None


@dataclass(frozen=True)
class AuthRefused:
    """The endpoint refused our credentials (401/403): fix the token; the document is fine as it is."""

    reason: str
    status: int | None = None
    response: str | None = None


Outcome = Delivered | RetryLater | Permanent | AuthRefused

_TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError)


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds, or HTTP date when ``now`` is given)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    if now is None:
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)


def _classify_error(error: BaseException) -> Outcome:
    name = type(error).__name__
    if isinstance(error, _TRANSIENT_ERRORS):
        return RetryLater(None, f"transport: {name}: {error}"[:MAX_BODY_CHARS])
    if isinstance(error, httpx.HTTPError | httpx.InvalidURL):
        return Permanent(f"client configuration: {name}: {error}"[:MAX_BODY_CHARS])
    return RetryLater(None, f"unexpected: {name}: {error}"[:MAX_BODY_CHARS])


def _classify_success(response: httpx.Response, body: str) -> Outcome:
    try:
        ticket = Ticket.model_validate_json(response.content)
    except ValidationError:
        return RetryLater(None, f"{response.status_code} without a ticket", status=response.status_code, response=body)
    return Delivered(ticket.ticket, response.status_code, body)


def classify(result: httpx.Response | BaseException, now: datetime | None = None) -> Outcome:
    """Map one submit answer or one raised error to its :data:`Outcome` (pure; see the module table)."""
    if isinstance(result, BaseException):
        return _classify_error(result)
    status = result.status_code
    body = result.text[:MAX_BODY_CHARS]
    if status in (200, 201):
        return _classify_success(result, body)
    wait_s = retry_after_s(result.headers.get("retry-after"), now)
    if status == 429:
        return RetryLater(wait_s, "429 rate limited", unhealthy=False, status=status, response=body)
    if status == 408 or status >= 500:
        return RetryLater(wait_s, f"{status} server unavailable", status=status, response=body)
    if status in (401, 403):
        return AuthRefused(f"{status} authentication refused: check the export token", status, body)
    if status == 409:
        return Permanent("409 same document id with different content", status, body)
    if status == 422:
        return Permanent("422 document rejected as invalid", status, body)
    if 400 <= status < 500:
        return Permanent(f"{status} request refused", status, body)
    return RetryLater(None, f"unexpected status {status}", status=status, response=body)
