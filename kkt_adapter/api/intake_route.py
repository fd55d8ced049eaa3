"""The receipt intake's fast way in: a plain Starlette route in front of the documented FastAPI operation.

FastAPI's per-route machinery (dependency solving, body-field handling, its route wrappers) cost about a
quarter of the intake's CPU (``docs/benchmarks.md``). This route answers ``POST /v1/receipts`` itself when
the request is the common, well-formed case: a JSON content type, a body that decodes and validates as
:class:`ReceiptIn` exactly as FastAPI would validate it (``json.loads``, then the model in Python mode).
Then it checks the POS token and runs the same ``post_receipt`` as the documented route. Anything else —
another content type, malformed JSON, an invalid receipt — is handed, body and all, to the documented
FastAPI operation, so every error answer stays FastAPI's own. The OpenAPI schema is the documented route's:
this route is not in it.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from kkt_adapter.api.deps import require_pos
from kkt_adapter.api.limits import replay_body
from kkt_adapter.api.routes_receipts import post_receipt
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


class FastIntake:
    """ASGI app of the fast route; ``documented`` is the FastAPI router that serves every other case."""

    def __init__(self, documented: ASGIApp) -> None:
        self.documented = documented

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        body = await request.body()
        receipt = parse_receipt(request.headers.get("content-type"), body)
        if receipt is None:
            await self.documented(scope, replay_body(body, receive), send)
            return

        async def answer(scope: Scope, receive: Receive, send: Send) -> None:
            await require_pos(request)
            response = await post_receipt(receipt, request)
            await response(scope, receive, send)

        await wrap_app_handling_exceptions(answer, request)(scope, receive, send)


def fast_intake_route(documented: ASGIApp) -> Route:
    """The route to put first in the app's router (it serves only ``POST /v1/receipts``)."""
    return Route(PATH, FastIntake(documented), methods=["POST"], include_in_schema=False)
