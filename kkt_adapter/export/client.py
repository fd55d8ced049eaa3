"""Async HTTP client for the export API: one pooled ``httpx.AsyncClient``, answers classified as data.

``submit`` and ``fetch_ticket`` never raise for HTTP answers or transport errors: they return an
:data:`~kkt_adapter.export.outcome.Outcome`. Only cancellation propagates. The bearer token is given by the
caller (read with ``config.secrets.load_secret`` from ``$KKT_ADAPTER_EXPORT_TOKEN`` or ``export.token_file``),
sent in the ``Authorization`` header and never logged or repr'd.
"""

from __future__ import annotations

import importlib.util
import ssl
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType

import httpx

if importlib.util.find_spec("sniffio") is None:
    # httpcore tries ``import sniffio`` for every lock it sets up; without sniffio each failed import
    # rescans sys.path (~0.4 ms, measured 20 % of a drain's CPU). A None entry makes that import fail
    # at once, which is exactly what httpcore expects when sniffio is absent.
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]

from kkt_adapter.config.settings import ExportSettings
from kkt_adapter.export.contract import ExportDocument
from kkt_adapter.export.outcome import Outcome, classify

SUBMIT_PATH = "/v1/documents"


@dataclass(frozen=True)
class ExportClientConfig:
    """Where the export endpoint is and how long to wait: names match the ``export`` settings section."""

    base_url: str
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 10.0
    max_connections: int = 32
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, section: ExportSettings, token: str | None, max_connections: int) -> ExportClientConfig:
        """From ``Settings.export`` plus the token and the pool size (the sync concurrency)."""
        return cls(
            base_url=section.base_url,
            connect_timeout_s=section.connect_timeout_s,
            read_timeout_s=section.read_timeout_s,
            max_connections=max_connections,
            token=token,
        )


def _timeout(config: ExportClientConfig) -> httpx.Timeout:
    total_s = config.connect_timeout_s + config.read_timeout_s
    return httpx.Timeout(
        connect=config.connect_timeout_s,
        read=config.read_timeout_s,
        write=config.read_timeout_s,
        pool=total_s,
    )


def _pool(
    config: ExportClientConfig, tls: ssl.SSLContext, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
    return httpx.AsyncClient(
        base_url=config.base_url,
        headers=headers,
        timeout=_timeout(config),
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        transport=transport,
        follow_redirects=False,
        verify=tls,
    )


class ExportClient:
    """Submits documents to one HQ export endpoint; use as ``async with ExportClient(cfg) as client``.

    Each of the ``max_connections`` keep-alive connections is its own one-connection httpx pool, and a
    request goes to the pool with the fewest requests in flight. httpcore checks every connection of a
    pool (a ``getpeername`` and a ``poll`` each) on every request, so one pool of 32 costs about twice
    the CPU per request of 32 pools of one (measured on the drain).
    """

    def __init__(self, config: ExportClientConfig, transport: httpx.AsyncBaseTransport | None = None) -> None:
        tls = httpx.create_ssl_context()  # one context for all pools: building one costs ~0.1 s
        self._pools = [_pool(config, tls, transport) for _ in range(max(config.max_connections, 1))]
        self._busy = [0] * len(self._pools)
        self._http = self._pools[0]

    async def _send(self, method: str, path: str, body: bytes | None = None) -> httpx.Response:
        index = min(range(len(self._busy)), key=self._busy.__getitem__)
        self._busy[index] += 1
        try:
            headers = {"Content-Type": "application/json"} if body is not None else None
            return await self._pools[index].request(method, path, content=body, headers=headers)
        finally:
            self._busy[index] -= 1

    def set_token(self, token: str | None) -> None:
        """Use ``token`` from the next request on (a token file changed after an auth refusal)."""
        for pool in self._pools:
            if token:
                pool.headers["Authorization"] = f"Bearer {token}"
            else:
                pool.headers.pop("Authorization", None)

    def __repr__(self) -> str:
        return f"ExportClient(base_url={str(self._http.base_url)!r}, pools={len(self._pools)})"

    async def __aenter__(self) -> ExportClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pools."""
        for pool in self._pools:
            await pool.aclose()

    async def submit(self, document: ExportDocument) -> Outcome:
        """POST one document under its stable id; idempotent on the export endpoint side, so safe to repeat."""
        body = document.canonical_json().encode("utf-8")
        try:
            response = await self._send("POST", SUBMIT_PATH, body)
        except Exception as error:  # every httpx error is data; classify decides what it means
            return classify(error)
        return classify(response, datetime.now(UTC))

    async def fetch_ticket(self, doc_id: str) -> Outcome:
        """GET the stored ticket of ``doc_id``: Delivered if the export endpoint holds it, Permanent on 404."""
        try:
            response = await self._send("GET", f"{SUBMIT_PATH}/{doc_id}")
        except Exception as error:  # same as submit
            return classify(error)
        return classify(response, datetime.now(UTC))
