"""Reading the device into the cache: identity on connect, the FN watch, and the shift's opening time.

The shift's opening time is not in any status answer: the worker stores it in the buffer's settings
when it opens a shift itself, and otherwise finds the shift-open report in the FN archive (searching
back a bounded number of documents).
"""

from __future__ import annotations

import logging
from datetime import datetime

from kkt_adapter.buffer.records import from_ts, ts
from kkt_adapter.kkt.errors import DeviceError, DeviceRejected
from kkt_adapter.pipeline.cache import is_ofd_blocked
from kkt_adapter.pipeline.context import DeviceContext
from kkt_adapter.pipeline.resolve import DOC_SHIFT_OPEN

log = logging.getLogger("kkt_adapter.pipeline")

SHIFT_SEARCH_MAX = 300


def _setting_name(ctx: DeviceContext) -> str:
    return f"pipeline.shift_opened.{ctx.device.id}"


async def identify(ctx: DeviceContext) -> None:
    """Connect (open the port) and read model, FN serial, registration number into the cache."""
    info = await ctx.io(ctx.driver.connect)
    cache = ctx.cache
    cache.connected = True
    cache.model_name = info.model_name
    cache.fn_serial = info.fn_serial
    cache.registration_number = info.registration_number
    log.info("device %s connected: %s, FN %s", ctx.device.id, info.model_name, info.fn_serial)


async def fn_watch(ctx: DeviceContext) -> None:
    """FF01, FF03, FF39 into the cache; clears the FN block flag once the backlog is under 30 days."""
    cache = ctx.cache
    fn = await ctx.io(ctx.driver.fn_status)
    cache.fn_serial, cache.fn_warnings, cache.shift_open = fn.fn_serial, fn.warnings, fn.shift_open
    try:
        expiry = await ctx.io(ctx.driver.fn_expiry)
        cache.fn_expires_on = expiry.expires_on
    except DeviceRejected as exc:
        log.info("device %s: FN expiry not available: %s", ctx.device.id, exc)
    try:
        exchange = await ctx.io(ctx.driver.exchange_status)
    except DeviceRejected as exc:
        log.info("device %s: FN exchange status not available: %s", ctx.device.id, exc)
    else:
        cache.unsent_count = exchange.unsent_count
        first = exchange.first_unsent_at if exchange.unsent_count > 0 else None
        cache.oldest_unsent_at = None if first is None else ctx.local(first)
    now = ctx.clock()
    if cache.fn_blocked and not is_ofd_blocked(cache.oldest_unsent_at, now):
        cache.fn_blocked = False
    cache.fn_checked_at = now
    await refresh_shift(ctx)


async def refresh_shift(ctx: DeviceContext) -> None:
    """Shift number and opening time into the cache (opening time from the settings or the FN archive)."""
    params = await ctx.io(ctx.driver.shift_params)
    cache = ctx.cache
    cache.shift_open = params.is_open
    if not params.is_open:
        cache.shift_number, cache.shift_opened_at = params.shift_number, None
        return
    if cache.shift_number == params.shift_number and cache.shift_opened_at is not None:
        return
    cache.shift_number = params.shift_number
    cache.shift_opened_at = await _stored_opening(ctx, params.shift_number) or await _search_opening(
        ctx, params.shift_number
    )


async def remember_opening(ctx: DeviceContext, opened_at: datetime) -> None:
    """After the worker opened a shift: store its number and time (survives restarts)."""
    params = await ctx.io(ctx.driver.shift_params)
    ctx.cache.shift_open, ctx.cache.shift_number, ctx.cache.shift_opened_at = True, params.shift_number, opened_at
    await ctx.store.set_setting(_setting_name(ctx), f"{params.shift_number}|{ts(opened_at)}", "pipeline")


async def _stored_opening(ctx: DeviceContext, shift_number: int) -> datetime | None:
    value = await ctx.store.get_setting(_setting_name(ctx))
    if value is None:
        return None
    number, _, stamp = value.partition("|")
    return from_ts(stamp) if number == str(shift_number) else None


async def _search_opening(ctx: DeviceContext, shift_number: int) -> datetime | None:
    fn = await ctx.io(ctx.driver.fn_status)
    low = max(1, fn.last_fd_number - SHIFT_SEARCH_MAX)
    for number in range(fn.last_fd_number, low - 1, -1):
        try:
            doc = await ctx.io(ctx.driver.find_document, number)
        except DeviceError:
            return None
        if doc.doc_type == DOC_SHIFT_OPEN:
            return ctx.local(doc.doc_datetime) if doc.shift_number in (shift_number, None) else None
    log.info("device %s: shift %d opened > %d documents ago", ctx.device.id, shift_number, SHIFT_SEARCH_MAX)
    return None
