"""Reading the device into the cache: identity on connect, the FN watch, and the shift's opening time.

Every legal clock is the device's (:mod:`kkt_adapter.ops.devclock`): each watch reads the device's
date/time (11h) next to the host's clocks, and the 30-day block is decided from FF39's first unsent
date against that time, so the block is known from the FN's state before a receipt fails.

The shift's opening time is not in any status answer: when the worker opens a shift itself it reads
the opening document's date from the FN archive and stores it (device time) in the buffer's settings;
otherwise it finds the shift-open report in the FN archive (searching back a bounded number of
documents).
"""

from __future__ import annotations

import logging
from datetime import datetime

from kkt_adapter.buffer.errors import StorageUnavailable
from kkt_adapter.buffer.records import from_ts, ts
from kkt_adapter.kkt.errors import DeviceError, DeviceRejected
from kkt_adapter.kkt.types import ExchangeStatus
from kkt_adapter.ops.devclock import ClockReading
from kkt_adapter.pipeline.cache import is_ofd_blocked
from kkt_adapter.pipeline.context import DeviceContext
from kkt_adapter.pipeline.resolve import DOC_SHIFT_OPEN

log = logging.getLogger("kkt_adapter.pipeline")

SHIFT_SEARCH_MAX = 300


def _setting_name(ctx: DeviceContext) -> str:
    return f"pipeline.shift_opened.{ctx.device.id}"


async def identify(ctx: DeviceContext) -> None:
    """Connect (open the port) and read model, FN serial, registration number into the cache; an FN serial
    other than the one last seen on this device is audited as "FN replaced: old → new" (a buffer that cannot
    be written leaves it for the next connect: the device still connects)."""
    info = await ctx.io(ctx.driver.connect)
    cache = ctx.cache
    cache.connected = True
    cache.model_name = info.model_name
    cache.fn_serial = info.fn_serial
    cache.registration_number = info.registration_number
    log.info("device %s connected: %s, FN %s", ctx.device.id, info.model_name, info.fn_serial)
    try:
        old = await ctx.store.note_fn(ctx.device.id, info.fn_serial)
    except StorageUnavailable as exc:  # nothing remembered: the next connect notes (and audits) it again
        log.warning("device %s: the FN serial could not be noted: %s", ctx.device.id, exc)
        return
    if old is not None:
        log.warning("device %s: FN replaced: %s → %s", ctx.device.id, old, info.fn_serial)


async def read_clock(ctx: DeviceContext) -> ClockReading:
    """Read the device's date/time (11h) with the host's wall and monotonic clocks into the cache."""
    before = ctx.monotonic()
    device_at = await ctx.io(ctx.driver.device_clock)
    mono = (before + ctx.monotonic()) / 2  # the device read its clock somewhere in the round trip
    reading = ClockReading(ctx.local(device_at), ctx.clock(), mono)
    ctx.cache.clock = reading
    return reading


async def fn_watch(ctx: DeviceContext, confirm_ofd: bool = False) -> None:
    """Device clock, FF01, FF03, FF39 into the cache; the FN block flag set when the oldest unsent document
    is 30 days old on the device's clock, cleared once it is not (a block seen as 0x14/0x15 included).

    ``confirm_ofd`` (``ofd.mode = device``: the KKT sends by itself): receipts of this FN the FN no longer
    queues get ``ofd_confirmed_at`` (:func:`confirm_sent`)."""
    cache = ctx.cache
    await read_clock(ctx)
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
        if confirm_ofd:
            await confirm_sent(ctx, fn.fn_serial, fn.last_fd_number, exchange)
    device_now = ctx.device_now()
    blocked = is_ofd_blocked(cache.oldest_unsent_at, device_now)
    if blocked and not cache.fn_blocked:
        log.warning("device %s: the FN's oldest unsent document is 30 days old: FN blocked", ctx.device.id)
    cache.fn_blocked = blocked
    cache.fn_checked_at = ctx.clock()  # when the host checked (the host's clock)
    await refresh_shift(ctx)


async def confirm_sent(ctx: DeviceContext, fn_serial: str, last_fd: int, exchange: ExchangeStatus) -> int:
    """Stamp ``ofd_confirmed_at`` on every receipt of FN ``fn_serial`` the FN no longer queues for the OFD: FDs
    below the first unsent one, or up to ``last_fd`` (FF01, read before FF39) when the queue is empty — never
    a document newer than what the FN had when asked. One writer operation, monotonic; how many."""
    if exchange.unsent_count > 0:
        below, said = exchange.first_unsent_number, f"first unsent FD {exchange.first_unsent_number}"
    else:
        below, said = last_fd + 1, f"no unsent document, last FD {last_fd}"
    return await ctx.store.ofd_confirm_below(fn_serial, below, f"FF39: the KKT sent them to the OFD ({said})")


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


async def remember_opening(ctx: DeviceContext) -> None:
    """After the worker opened a shift: store its number and the opening document's date-time from the FN
    (device time; survives restarts). The device's time now stands in if the FN archive cannot say."""
    params = await ctx.io(ctx.driver.shift_params)
    opened_at = await _opening_document_time(ctx) or ctx.device_now()
    ctx.cache.saw_document(opened_at)
    ctx.cache.shift_open, ctx.cache.shift_number, ctx.cache.shift_opened_at = True, params.shift_number, opened_at
    value = f"{params.shift_number}|{ts(opened_at)}|{DEVICE_TIME}"
    await ctx.store.set_setting(_setting_name(ctx), value, "pipeline")


DEVICE_TIME = "device"  # marks a stored opening time as device time (older versions stored host time)


async def _opening_document_time(ctx: DeviceContext) -> datetime | None:
    fn = await ctx.io(ctx.driver.fn_status)
    try:
        doc = await ctx.io(ctx.driver.find_document, fn.last_fd_number)
    except DeviceError as exc:
        log.info("device %s: the shift's opening document is not readable: %s", ctx.device.id, exc)
        return None
    return ctx.local(doc.doc_datetime) if doc.doc_type == DOC_SHIFT_OPEN else None


async def _stored_opening(ctx: DeviceContext, shift_number: int) -> datetime | None:
    value = await ctx.store.get_setting(_setting_name(ctx))
    if value is None:
        return None
    number, stamp, marker = ([*value.split("|"), "", ""])[:3]
    return from_ts(stamp) if number == str(shift_number) and marker == DEVICE_TIME else None


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
