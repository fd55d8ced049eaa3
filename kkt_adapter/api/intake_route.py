"""The receipt intake's fast way in: ``POST /v1/receipts`` answered ahead of the app's middleware stack.

Every request passes eight ASGI layers before a route runs (the host and origin guards, the body limit,
FastAPI's error, telemetry, exception and exit-stack middleware, the router) and FastAPI's per-route
machinery after them: together more CPU than the intake's own work (``docs/benchmarks.md``). The
:class:`IntakeFront` takes the common, well-formed intake request itself, checking exactly what those
layers would check for it, and leaves everything else to the full stack:

1. the ``Host`` header names an allowed host plainly (a subset of what ``TrustedHostMiddleware`` accepts);
2. no browser marks the request as cross-origin (:func:`~kkt_adapter.api.origin.cross_origin_refusal`);
3. a ``Content-Length`` within the body limit (a chunked body is left to :class:`~.limits.BodySizeLimit`);
4. a JSON content type and a body that decodes and validates as :class:`ReceiptIn` as FastAPI would
   validate it (``json.loads``, then the model in Python mode);
5. the POS token, when one is configured (:func:`~kkt_adapter.api.deps.pos_refusal`);

then :func:`~kkt_adapter.api.routes_receipts.take_receipt`, the same function the documented route runs.
A request that fails 1–4 goes to the full stack untouched (its body replayed), so every refusal of those
checks is the stack's own answer. The OpenAPI schema is the documented route's.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import Headers, State
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from kkt_adapter.api.deps import Services, pos_refusal
from kkt_adapter.api.errors import ApiError, api_error_response, buffer_error_response
from kkt_adapter.api.limits import replay_body
from kkt_adapter.api.origin import cross_origin_refusal, plain_names, plainly_allowed
from kkt_adapter.api.routes_receipts import take_receipt
from kkt_adapter.buffer.errors import StoreError
from kkt_adapter.receipts.model import ReceiptIn

PATH = "/v1/receipts"


def parse_receipt(content_type: str | None, body: bytes) -> ReceiptIn | None:
    """The receipt when FastAPI would take this body as a valid ``ReceiptIn``; None otherwise (pure)."""
    if content_type is None or not body:
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json":
        return None
    try:
        value: Any = json.loads(body)
        return ReceiptIn.model_validate(value, from_attributes=True)
    # JSONDecodeError and UnicodeDecodeError are ValueErrors; json's decoder recurses, so a body nested
    # deeper than the interpreter's limit raises RecursionError: FastAPI answers all three with its 422.
    except (ValueError, RecursionError, ValidationError):
        return None


def declared_length(headers: Headers, max_bytes: int) -> int | None:
    """The body's ``Content-Length`` when it is one plain number within ``max_bytes``; None otherwise."""
    values = headers.getlist("content-length")
    if len(values) != 1 or not (values[0].isascii() and values[0].isdigit()):
        return None
    length = int(values[0])
    return length if length <= max_bytes else None


class IntakeFront:
    """Serves the common intake request; see the module docstring for what it checks, in that order."""

    def __init__(self, state: State, hosts: list[str], max_body_bytes: int) -> None:
        self.state = state  # the app's: ``services`` is set by the lifespan (or a test)
        self.hosts = hosts
        self._plain_names = plain_names(hosts)
        self.max_body_bytes = max_body_bytes

    @staticmethod
    def takes(scope: Scope) -> bool:
        return bool(scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == PATH)

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """Answer the request (None), or hand it on: the ``receive`` the full stack must read it from."""
        headers = Headers(scope=scope)
        if (
            not plainly_allowed(headers.get("host"), self._plain_names)
            or cross_origin_refusal("POST", headers.get("origin"), headers.get("sec-fetch-site"), self.hosts)
            or declared_length(headers, self.max_body_bytes) is None
        ):
            return receive
        body, complete = await _read_body(receive)
        if not complete:  # the client went away mid-body: nobody is left to answer, nothing was stored
            return None
        receipt = parse_receipt(headers.get("content-type"), body)
        services: Services | None = getattr(self.state, "services", None)
        if receipt is None or services is None:
            return replay_body(body, receive)
        await self._answer(services, receipt, headers, scope, receive, send)
        return None

    async def _answer(
        self, services: Services, receipt: ReceiptIn, headers: Headers, scope: Scope, receive: Receive, send: Send
    ) -> None:
        response: Response
        refusal = pos_refusal(services, headers.get("authorization"))
        if refusal is not None:
            response = api_error_response(refusal)
        else:
            try:
                key_header, query = headers.get("idempotency-key"), scope.get("query_string", b"")
                response = await take_receipt(services, receipt, key_header, query)
            except ApiError as exc:
                response = api_error_response(exc)
            except StoreError as exc:
                response = buffer_error_response(exc)
        await response(scope, receive, send)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole body (its length is already known to be within the limit), and whether it arrived whole."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True
