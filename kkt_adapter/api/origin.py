"""Local attackers through a browser: DNS rebinding and cross-origin posts.

With no POS token (the default) the API trusts whoever reaches 127.0.0.1. A web page open in the POS
box's browser can reach it too: through a rebinding name (the browser sends ``Host: evil.example``)
or by posting a form straight to ``http://127.0.0.1:8765`` (a "simple" request: no CORS preflight).
Two checks refuse both before any route runs:

- the ``Host`` header must name one of ``api.allowed_hosts`` (Starlette's ``TrustedHostMiddleware``;
  loopback names by default);
- a state-changing request (not GET/HEAD/OPTIONS) that a browser marks as cross-origin — an ``Origin``
  whose host is not allowed, or ``Sec-Fetch-Site: cross-site``/``same-site`` — answers 403. POS programs
  send neither header; the daemon's own page is same-origin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from kkt_adapter.api.errors import error_response

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PLAIN_NAME = re.compile(r"[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]")


def allowed_hosts(configured: Iterable[str], bind_host: str) -> list[str]:
    """The configured names, plus the address the API binds when it is a concrete one (not a wildcard)."""
    hosts = [h.lower() for h in configured]
    if bind_host not in ("0.0.0.0", "::", "") and bind_host.lower() not in hosts:  # noqa: S104 -- a comparison
        hosts.append(bind_host.lower())
    return hosts


def plain_names(hosts: Iterable[str]) -> frozenset[str]:
    """The allowed names that are a plain DNS name, IPv4 address or bracketed IPv6 address, lower-case."""
    return frozenset(h.lower() for h in hosts if _PLAIN_NAME.fullmatch(h))


def plainly_allowed(host_header: str | None, names: frozenset[str]) -> bool:
    """True when ``host_header`` is one of ``names`` (from :func:`plain_names`), alone or with a numeric
    port (pure). A strict subset of what ``TrustedHostMiddleware`` accepts for the same names: a request
    this refuses is left to the middleware, which answers it."""
    if host_header is None:
        return False
    name, colon, port = host_header.lower().rpartition(":")
    if not colon:
        name = port
    elif not (port.isascii() and port.isdigit()):
        return False
    if ":" in name and not (name.startswith("[") and name.endswith("]")):
        return False
    return name in names


def cross_origin_refusal(method: str, origin: str | None, fetch_site: str | None, hosts: Iterable[str]) -> str | None:
    """Why a browser-style cross-origin request must be refused, or None (pure)."""
    if method.upper() in SAFE_METHODS:
        return None
    if fetch_site is not None and fetch_site.lower() in ("cross-site", "same-site"):
        return f"a browser sent this request from another site (Sec-Fetch-Site: {fetch_site})"
    if origin is None:
        return None
    host = (urlsplit(origin).hostname or "").lower() if origin != "null" else ""
    if host not in {h.strip("[]") for h in hosts}:
        return f"a browser sent this request from another origin ({origin[:100]})"
    return None


class CrossOriginGuard:
    """ASGI middleware: 403 ``cross_origin`` for :func:`cross_origin_refusal`, in the API's error shape."""

    def __init__(self, app: ASGIApp, hosts: list[str]) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            reason = cross_origin_refusal(
                scope["method"], headers.get("origin"), headers.get("sec-fetch-site"), self.hosts
            )
            if reason is not None:
                response = error_response(403, "cross_origin", f"Refused: {reason}.")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
