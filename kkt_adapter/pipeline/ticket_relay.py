"""Writing the OFD's tickets back into the FN, so the FN's unsent queue drains (host-relayed exchange).

A KKT without its own network counts every document as unsent until an OFD ticket is written into its
FN; after 30 days the FN stops signing. The sync worker delivers receipts to the OFD and stores the
ticket (``delivered``); :func:`relay_tickets` writes those tickets into the connected FN (FF32/FF33,
:meth:`~kkt_adapter.kkt.driver.ShtrihDriver.write_ofd_ticket`) and marks them ``fn_ack``.

The device worker calls it between receipts only: when no receipt is waiting (or the FN is blocked by
its backlog, when writing tickets is the way out), with the device connected and no outcome unknown.
It never blocks receipts: a refusal by the FN is checked against the FN archive (FF0A ticket flag) and
recorded, a transient device state ends the batch (the next idle cycle tries again). Only link and
protocol failures propagate, to the worker's usual handling of a lost link.

Only documents the OFD confirmed get a ticket: shift open/close reports are FN documents too, but the
sync does not deliver them, so they stay in the FN's queue (see ``docs/export-api.md``).
"""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from kkt_adapter.buffer.records import StoredReceipt
from kkt_adapter.kkt.errors import DeviceError, DeviceRejected, DeviceStateError, ProtocolError
from kkt_adapter.kkt.protocol.commands import ofd_answer_container
from kkt_adapter.kkt.types import ExchangeStatus, FnDocument
from kkt_adapter.pipeline.cache import is_ofd_blocked
from kkt_adapter.pipeline.context import DeviceContext

log = logging.getLogger("kkt_adapter.pipeline")

BATCH = 8  # tickets per call: 2 commands each on the emulator, keeps a waiting receipt's delay short


@runtime_checkable
class TicketWriter(Protocol):
    """The driver operations the relay needs (a driver without them is skipped)."""

    def write_ofd_ticket(self, fd_number: int, ticket: str) -> None: ...
    def find_document(self, fd_number: int) -> FnDocument: ...
    def exchange_status(self) -> ExchangeStatus: ...


async def relay_tickets(ctx: DeviceContext, limit: int = BATCH) -> bool:
    """Write up to ``limit`` pending tickets of this device's current FN; True if any receipt was marked
    (call again: more may wait). Raises only link/protocol errors of the driver."""
    driver, fn_serial = ctx.driver, ctx.cache.fn_serial
    if not isinstance(driver, TicketWriter) or fn_serial is None or not ctx.cache.connected:
        return False
    marked = 0
    for row in await ctx.store.fn_unacked(ctx.device.id, fn_serial, limit):
        if not await _relay_one(ctx, driver, row):
            break
        marked += 1
    if marked:
        await _refresh_backlog(ctx, driver)
    return marked > 0


async def _relay_one(ctx: DeviceContext, driver: TicketWriter, row: StoredReceipt) -> bool:
    """Write one ticket and mark the receipt; False when a transient device state stopped it."""
    fd_number, ticket = row.fd_number, row.ofd_ticket
    try:
        if fd_number is None or ticket is None:
            raise ProtocolError("no FD number or no OFD ticket recorded")
        ofd_answer_container(fd_number, ticket)  # checked here: a ProtocolError below is the link's
    except ProtocolError as exc:
        await ctx.store.mark_fn_ack_refused(row.key, f"OFD ticket not written to the FN: {exc}")
        return True
    try:
        await ctx.io(driver.write_ofd_ticket, fd_number, ticket)
    except DeviceRejected as exc:
        return await _after_refusal(ctx, driver, row.key, fd_number, exc)
    except DeviceStateError as exc:
        log.info("device %s: OFD ticket of FD %d not written now: %s", ctx.device.id, fd_number, exc)
        return False
    await ctx.store.mark_fn_acked(row.key)
    return True


async def _after_refusal(
    ctx: DeviceContext, driver: TicketWriter, key: str, fd_number: int, refusal: DeviceRejected
) -> bool:
    """The FN refused the ticket: acked if the FN already holds one for the FD, else given up."""
    try:
        doc = await ctx.io(driver.find_document, fd_number)
    except DeviceStateError as exc:
        log.info("device %s: FD %d not checked now: %s", ctx.device.id, fd_number, exc)
        return False
    except DeviceError:
        doc = None
    if doc is not None and doc.ticket_received:
        await ctx.store.mark_fn_acked(key, f"the FN already holds an OFD ticket ({refusal.text})")
        return True
    log.warning("device %s: the FN refused the OFD ticket of FD %d: %s", ctx.device.id, fd_number, refusal)
    await ctx.store.mark_fn_ack_refused(key, f"the FN refused the OFD ticket: {refusal.text}")
    return True


async def _refresh_backlog(ctx: DeviceContext, driver: TicketWriter) -> None:
    """FF39 into the cache (as the FN watch does), so health sees the drained queue at once."""
    try:
        exchange = await ctx.io(driver.exchange_status)
    except DeviceError as exc:
        log.info("device %s: FN exchange status not available: %s", ctx.device.id, exc)
        return
    cache = ctx.cache
    cache.unsent_count = exchange.unsent_count
    first = exchange.first_unsent_at if exchange.unsent_count > 0 else None
    cache.oldest_unsent_at = None if first is None else ctx.local(first)
    if cache.fn_blocked and not is_ofd_blocked(cache.oldest_unsent_at, ctx.device_now()):
        cache.fn_blocked = False
