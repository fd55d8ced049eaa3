"""Shift and printer actions of a worker (open/close shift, X report, continue printing), on its device.

Called only from the device's worker, between receipts.
"""

from __future__ import annotations

import logging

from kkt_adapter.pipeline import watch
from kkt_adapter.pipeline.commands import Action
from kkt_adapter.pipeline.context import DeviceContext

log = logging.getLogger("kkt_adapter.pipeline")


async def open_shift(ctx: DeviceContext) -> None:
    """E0h, then remember when (for the close before the 24-hour limit)."""
    await ctx.io(ctx.driver.open_shift)
    await watch.remember_opening(ctx, ctx.clock())
    log.info("device %s: shift %s opened", ctx.device.id, ctx.cache.shift_number)


async def close_shift(ctx: DeviceContext, why: str) -> None:
    """41h Z report."""
    await ctx.io(ctx.driver.z_report)
    log.info("device %s: shift %s closed (%s)", ctx.device.id, ctx.cache.shift_number, why)
    ctx.cache.shift_open, ctx.cache.shift_opened_at = False, None


async def mark_printed(ctx: DeviceContext) -> bool:
    """Clear the incomplete-print flag of the device's receipts; True if there were any."""
    rows = await ctx.store.incomplete_prints(ctx.device.id)
    for row in rows:
        await ctx.store.mark_printed(row.key)
    return bool(rows)


async def execute(ctx: DeviceContext, action: Action) -> None:
    """Run an operator action; the driver's errors propagate."""
    if action is Action.OPEN_SHIFT:
        await open_shift(ctx)
    elif action is Action.CLOSE_SHIFT:
        await close_shift(ctx, f"operator ({action.value})")
    elif action is Action.X_REPORT:
        await ctx.io(ctx.driver.x_report)
    else:
        await ctx.io(ctx.driver.continue_printing)
        await mark_printed(ctx)
