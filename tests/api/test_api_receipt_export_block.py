"""The receipt JSON names the optional HQ export's progress ``export`` (not ``ofd``), over a real uvicorn server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
from api_support import serve_api
from daemon_harness import make_receipt

from kkt_adapter.buffer.records import FiscalRecord
from kkt_adapter.buffer.store import Store
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem

FN = "9999078900012345"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def _delivered_by_the_export(db: Path) -> None:
    """Receipt ``a`` fiscalized as FD 2 and confirmed by the HQ export endpoint with ticket ``hq-7``; its
    document is not confirmed by the OFD."""
    db.parent.mkdir(parents=True, exist_ok=True)
    store = await Store.open(db, clock=lambda: NOW)
    try:
        await store.insert_receipt("a", ReceiptIn.model_validate(make_receipt()), "kkt1", TaxSystem.OSN)
        await store.begin_printing("a", 1)
        await store.mark_fiscalized("a", FiscalRecord(2, 1002, NOW, 1, 1, FN, "0000000001012345"), False, "test")
        await store.mark_delivered("a", "hq-7", NOW)
    finally:
        await store.close()


def test_a_receipt_the_export_delivered_shows_an_export_block_and_no_ofd_block(tmp_path: Path) -> None:
    """GET and the listing carry ``export`` (delivered, the endpoint's ticket) beside a null
    ``ofd_confirmed_at``, and no ``ofd`` key that could be read as the OFD's word."""
    asyncio.run(_delivered_by_the_export(tmp_path / "data" / "b.db"))
    with serve_api(tmp_path) as api, httpx.Client(base_url=api.base_url, timeout=10) as http:
        one = http.get("/v1/receipts/a").json()
        listed = http.get("/v1/receipts").json()["items"][0]
    for body in (one, listed):
        assert "ofd" not in body
        assert (body["state"], body["ofd_confirmed_at"]) == ("delivered", None)
        assert (body["export"]["delivered"], body["export"]["ticket"]) == (True, "hq-7")


def test_the_openapi_receipt_schema_names_the_export_block(tmp_path: Path) -> None:
    """The published ReceiptOut schema has an ``export`` property and no ``ofd`` one."""
    with serve_api(tmp_path) as api, httpx.Client(base_url=api.base_url, timeout=10) as http:
        schemas = http.get("/openapi.json").json()["components"]["schemas"]
    properties = schemas["ReceiptOut"]["properties"]
    assert "export" in properties
    assert "ofd" not in properties
    assert "ExportOut" in schemas
