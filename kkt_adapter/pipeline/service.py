"""The fiscalization pipeline: one worker per configured device, the shift calendar, the public face.

The daemon's wiring builds one :class:`Pipeline`, calls :meth:`Pipeline.start` inside the running loop
and :meth:`Pipeline.stop` on shutdown. Everything else reads cached state (never a serial port).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from kkt_adapter.buffer.store import Store
from kkt_adapter.clock import utc_now
from kkt_adapter.config.settings import DeviceSettings, OfdMode, Settings
from kkt_adapter.kkt.device import KktDevice
from kkt_adapter.ops.snapshot import DeviceSnapshot
from kkt_adapter.pipeline.cache import DeviceCache, halted_refusal, intake_refusal, to_health
from kkt_adapter.pipeline.commands import SCHEDULER, Action, DeviceUnavailable
from kkt_adapter.pipeline.context import DeviceContext, Hooks
from kkt_adapter.pipeline.worker import DeviceWorker

log = logging.getLogger("kkt_adapter.pipeline")

DriverFactory = Callable[[DeviceSettings], KktDevice]
GRACEFUL_STOP_S = 60.0


class Pipeline:
    """All device workers. ``driver_factory`` makes each device's :class:`KktDevice` (the pipeline knows no
    device family). Hooks may be given here or assigned to :attr:`hooks` before :meth:`start`."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Callable[[], datetime] = utc_now,
        *,
        driver_factory: DriverFactory,
        on_fiscalized: Callable[[], None] | None = None,
        observe_fiscalization: Callable[[float], None] | None = None,
        device_error: Callable[[str, str], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.store = store
        self.hooks = Hooks(on_fiscalized, observe_fiscalization, device_error)
        self.monotonic = monotonic
        self.clock = clock
        zone = ZoneInfo(settings.ops.timezone)
        self.workers: dict[str, DeviceWorker] = {}
        for device in settings.devices:
            driver = driver_factory(device)
            ctx = DeviceContext(device, settings.shift, store, driver, clock, zone, self.hooks, monotonic)
            relay_ofd, kkt_sends = settings.ofd.mode is OfdMode.RELAY, settings.ofd.mode is OfdMode.DEVICE
            self.workers[device.id] = DeviceWorker(ctx, settings.ops.fn_watch_interval_s, relay_ofd, kkt_sends)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._scheduler: AsyncIOScheduler | None = None

    async def start(self) -> None:
        """Start one task per device, the store listener and (if ``shift.close_at``) the close-shift job."""
        self.store.add_listener(self._on_commit)
        for device_id, worker in self.workers.items():
            self._tasks[device_id] = asyncio.create_task(worker.run(), name=f"kkt-worker-{device_id}")
        close_at = self.settings.shift.close_at
        if close_at is not None:
            zone = ZoneInfo(self.settings.ops.timezone)
            self._scheduler = AsyncIOScheduler(timezone=zone)
            self._scheduler.add_job(
                self.close_shifts,
                CronTrigger(hour=close_at.hour, minute=close_at.minute, second=close_at.second, timezone=zone),
                id="pipeline.close_shifts",
                replace_existing=True,
                misfire_grace_time=300,
            )
            self._scheduler.start()

    async def stop(self, graceful: bool = True, timeout_s: float = GRACEFUL_STOP_S) -> None:
        """Stop every worker (idempotent). ``graceful``: let each finish the receipt on its printer (bounded by
        ``timeout_s``); otherwise the tasks are cancelled and a receipt in flight is resolved at the next start."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        for worker in self.workers.values():
            worker.stop()
        tasks = list(self._tasks.values())
        pending = (await asyncio.wait(tasks, timeout=timeout_s))[1] if tasks and graceful else set(tasks)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5.0)
        for worker in self.workers.values():
            worker.ctx.shutdown()
        self._tasks.clear()

    def _on_commit(self, _keys: set[str]) -> None:
        for worker in self.workers.values():
            worker.wake()

    def wake(self) -> None:
        """Make every worker look for work now."""
        self._on_commit(set())

    async def close_shifts(self) -> None:
        """The ``close_at`` job: queue a shift close on every connected device (between receipts)."""
        for device_id, worker in self.workers.items():
            try:
                command = worker.submit(Action.CLOSE_SHIFT, SCHEDULER)
            except DeviceUnavailable:
                log.warning("device %s: scheduled shift close skipped: not connected", device_id)
                continue
            command.future.add_done_callback(partial(_log_result, device_id))

    async def command(
        self,
        device_id: str,
        action: Action,
        actor: str,
        timeout_s: float = 120.0,
        params: dict[str, int] | None = None,
    ) -> dict[str, Any]:
        """Run an operator action on the device's worker; KeyError for an unknown device,
        :class:`DeviceUnavailable` when it is not connected, the driver's error when it fails, TimeoutError."""
        worker = self.workers[device_id]
        command = worker.submit(action, actor, params)
        return await asyncio.wait_for(asyncio.shield(command.future), timeout_s)

    def intake_refusal(self, device_id: str) -> str | None:
        """Why receipts for ``device_id`` must be refused now (FN blocked or expired), or None."""
        worker = self.workers.get(device_id)
        if worker is None:
            return None
        cache = worker.ctx.cache
        refusal = intake_refusal(cache, worker.ctx.device_now())
        return refusal or halted_refusal(cache, worker.ctx.clock(), self.settings.api.refuse_when_halted_s)

    def device_snapshots(self) -> list[DeviceCache]:
        """Copies of every device's cached status, in configuration order."""
        return [worker.ctx.cache.copy() for worker in self.workers.values()]

    def health_devices(self) -> tuple[DeviceSnapshot, ...]:
        """The health model's view of every device (:class:`kkt_adapter.ops.snapshot.DeviceSnapshot`)."""
        now = self.monotonic()
        return tuple(to_health(worker.ctx.cache, now) for worker in self.workers.values())


def _log_result(device_id: str, future: asyncio.Future[dict[str, Any]]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is None:
        log.info("device %s: scheduled shift close done", device_id)
    else:
        log.warning("device %s: scheduled shift close failed: %s", device_id, exc)
