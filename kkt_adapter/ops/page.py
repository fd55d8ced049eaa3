"""The cashier page at ``/``: one self-contained HTML file (no external assets) that polls ``/v1/health``.

Admin actions on the page ask for the admin token (kept in the tab's ``sessionStorage``, sent as
``Authorization: Bearer …``) and POST to ``/v1/admin/dlq/replay-all`` and
``/v1/admin/devices/{id}/close-shift``; those routes belong to the API, not to this router.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

page_router = APIRouter(tags=["page"])


@cache
def page_html() -> str:
    """The page's HTML, read once from the package's ``ops/static/index.html``."""
    return resources.files("kkt_adapter.ops").joinpath("static/index.html").read_text(encoding="utf-8")


@page_router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def cashier_page() -> HTMLResponse:
    """The cashier page; it never caches, so an upgrade shows at once."""
    return HTMLResponse(page_html(), headers={"Cache-Control": "no-store"})
