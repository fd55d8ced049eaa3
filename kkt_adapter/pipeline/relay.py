"""The device side of the FN↔OFD relay: the FN's messages into the outbox, the OFD's answers into the FN.

The device worker calls :func:`relay_step` between receipts only (no receipt waiting, or the FN blocked by
its backlog, when draining it is the way out), with the device connected and no receipt open. One step
does one thing, so a receipt never waits behind more than one message:

1. FF39: the FN's queue (count, head FD) into the cache.
2. Answers stored for FDs the FN no longer waits for (below the head, or an empty queue) are marked
   ``written``: the FN took them before a crash. Never written twice.
3. An answer stored for the head FD is written (FF32/FF33, one uninterrupted sequence on the device's I/O
   thread), then FF39 must show the queue moved on → ``written``; the FN's refusal (its code and meaning)
   → ``refused`` and an alarm, never a loop (a refused row is not written again until an operator replays it).
4. Otherwise, if the head FD is not in the outbox yet: FF30/FF31 read its message, the headers are parsed
   (:func:`kkt_adapter.ofd.wire.parse_message`) and the message is committed (``read``); the serial line
   is free again and the sync takes it from there. A head already stored waits for the sync's answer.

A crash at any point is harmless: the FN hands out the same document again and ``(fn_serial, fd_number)``
identifies it (``outbox_put`` is idempotent); an answer stored is written on the next step, never fetched
again. Link and protocol failures propagate to the worker's usual handling; a message that changed while
it was read, or does not parse, is left for a later step.
"""

from __future__ import annotations

import logging

from kkt_adapter.buffer.outbox import OutboxMessage, OutboxState
from kkt_adapter.kkt.errors import DeviceRejected, OfdMessageChanged
from kkt_adapter.kkt.types import DeviceStatus, ExchangeStatus, Mode
from kkt_adapter.ofd.wire import MSG_FN_TO_OFD, OfdWireError, parse_message
from kkt_adapter.pipeline.cache import is_ofd_blocked
from kkt_adapter.pipeline.context import DeviceContext

log = logging.getLogger("kkt_adapter.pipeline")

ANSWERS_PER_STEP = 8  # stale answers (already in the FN) marked per step; the one to write is one of them


async def relay_step(ctx: DeviceContext, status: DeviceStatus) -> bool:
    """One relay step (see the module docstring); True if it changed something (call again soon)."""
    fn_serial = ctx.cache.fn_serial
    if fn_serial is None or not ctx.cache.connected or status.mode is Mode.OPEN_DOCUMENT:
        return False
    exchange = await _exchange(ctx)
    head = exchange.first_unsent_number if exchange.unsent_count > 0 else None
    due = await ctx.store.outbox_answers_due(ctx.device.id, fn_serial, ANSWERS_PER_STEP)
    for row in due:
        if head is None or row.fd_number < head:
            await ctx.store.outbox_mark_written(
                fn_serial, row.fd_number, f"FF39: the FN no longer waits for FD {row.fd_number}"
            )
            return True
        if row.fd_number == head:
            await _write(ctx, row)
            return True
    if head is None:
        return False
    stored = await ctx.store.outbox_get(fn_serial, head)
    if stored is None:
        return await _read(ctx, fn_serial)
    if stored.state is OutboxState.WRITTEN:  # FF39 confirmed it once: the FN's archive disagrees with the buffer
        ctx.note_error(f"FD {head} is recorded as written into the FN, yet the FN still waits for its ticket")
    return False  # it waits for the sync's answer (read), an operator (dead, refused), or the alarm above


async def _exchange(ctx: DeviceContext) -> ExchangeStatus:
    """FF39 into the cache (as the FN watch does), so health sees the queue move at once."""
    exchange = await ctx.io(ctx.driver.exchange_status)
    cache = ctx.cache
    cache.unsent_count = exchange.unsent_count
    first = exchange.first_unsent_at if exchange.unsent_count > 0 else None
    cache.oldest_unsent_at = None if first is None else ctx.local(first)
    if cache.fn_blocked and not is_ofd_blocked(cache.oldest_unsent_at, ctx.device_now()):
        cache.fn_blocked = False
    return exchange


async def _write(ctx: DeviceContext, row: OutboxMessage) -> None:
    """Write the stored answer of the head FD, then confirm from FF39 that the FN took it."""
    fd, fn_serial = row.fd_number, row.fn_serial
    assert row.answer is not None  # noqa: S101 — an ``answered`` row always has its answer
    try:
        await ctx.io(ctx.driver.write_ofd_answer, row.answer)
    except DeviceRejected as exc:
        reason = f"ФН не принял квитанцию ОФД на ФД {fd} / the FN refused the OFD ticket of FD {fd}: {exc.text}"
        await ctx.store.outbox_mark_refused(fn_serial, fd, exc.code, reason)
        ctx.note_error(reason, exc.code, metric="ofd_ticket_refused")
        return
    after = await _exchange(ctx)
    if after.unsent_count > 0 and after.first_unsent_number == fd:
        reason = f"the FN took the ticket of FD {fd} without an error but FF39 still waits for it"
        await ctx.store.outbox_mark_refused(fn_serial, fd, None, reason)
        ctx.note_error(reason, metric="ofd_ticket_refused")
        return
    await ctx.store.outbox_mark_written(
        fn_serial, fd, f"written; FF39: {after.unsent_count} left, first FD {after.first_unsent_number}"
    )


async def _read(ctx: DeviceContext, fn_serial: str) -> bool:
    """Read the FN's current message and commit it to the outbox; False when nothing was stored."""
    try:
        message = await ctx.io(ctx.driver.read_ofd_message)
    except OfdMessageChanged as exc:
        log.info("device %s: the FN's OFD message changed while read, read again later: %s", ctx.device.id, exc)
        return False
    if message is None:
        return False
    try:
        parsed = parse_message(message)
    except OfdWireError as exc:
        ctx.note_error(f"сообщение ФН для ОФД не разобрано / the FN's OFD message does not parse: {exc}")
        return False
    if parsed.msg_type != MSG_FN_TO_OFD or parsed.fn_serial != fn_serial:
        ctx.note_error(
            f"the FN's OFD message is of type {parsed.msg_type:02X} for FN {parsed.fn_serial}; "
            f"expected A5 for FN {fn_serial}: not stored"
        )
        return False
    stored = await ctx.store.outbox_put(ctx.device.id, parsed.fn_serial, parsed.fd_number, parsed.doc_type, message)
    if stored and ctx.hooks.on_ofd_message is not None:
        ctx.hooks.on_ofd_message()  # the relay sends it now rather than at its next idle wake-up
    return stored
