"""What one device's worker and its helpers share: the driver behind its own thread, the cache, the hooks.

Every driver call goes through :meth:`DeviceContext.io`, which runs it on the device's single I/O
thread: the event loop never blocks on the serial port, and the driver is never used by two threads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import partial
from typing import ParamSpec, TypeVar

from kkt_adapter.buffer.store import Store
from kkt_adapter.config.settings import DeviceSettings, ShiftSettings
from kkt_adapter.kkt.device import KktDevice
from kkt_adapter.kkt.types import DeviceStatus, Mode
from kkt_adapter.pipeline.cache import DeviceCache
from kkt_adapter.pipeline.policy import device_time

P = ParamSpec("P")
T = TypeVar("T")
log = logging.getLogger("kkt_adapter.pipeline")


@dataclass
class Hooks:
    """Optional callbacks into the rest of the daemon (all called on the event loop, must not block).

    ``on_fiscalized()``: a receipt became ``fiscalized`` (the OFD sync's wake-up).
    ``observe_fiscalization(seconds)``: intent → fiscal result time of one receipt.
    ``device_error(device_id, code)``: a device error, ``code`` like ``"0x6B"``, ``"link"`` or ``"unknown"``.
    ``on_ofd_message()``: a message read from the FN was committed to the outbox (the OFD relay's wake-up).
    """

    on_fiscalized: Callable[[], None] | None = None
    observe_fiscalization: Callable[[float], None] | None = None
    device_error: Callable[[str, str], None] | None = None
    on_ofd_message: Callable[[], None] | None = None


class DeviceContext:
    """One device's driver, I/O thread, status cache, settings and clocks."""

    def __init__(
        self,
        device: DeviceSettings,
        shift: ShiftSettings,
        store: Store,
        driver: KktDevice,
        clock: Callable[[], datetime],
        zone: tzinfo,
        hooks: Hooks,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.device = device
        self.shift = shift
        self.store = store
        self.driver = driver
        self.clock = clock
        self.zone = zone
        self.hooks = hooks
        self.monotonic = monotonic
        self.cache = DeviceCache(device.id)
        self.device_calls = 0  # driver calls started through io(); see intent.Ahead
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"kkt-{device.id}")
        self._closed = False

    async def io(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run the blocking driver call ``fn`` on this device's thread."""
        self.device_calls += 1
        return await asyncio.get_running_loop().run_in_executor(self._executor, partial(fn, *args, **kwargs))

    def shutdown(self) -> None:
        """Close the driver after any call in flight (on its thread) and let the thread end; never blocks.

        Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._executor.submit(self.driver.close)
        self._executor.shutdown(wait=False)

    def device_now(self) -> datetime:
        """The device's time now, moved on from its last reading by the monotonic clock (the host's time
        until the device's clock was read): the clock of every legal deadline."""
        return self.cache.device_now(self.monotonic(), self.clock())

    def local(self, naive: datetime) -> datetime:
        """A naive device date-time as an aware one."""
        return device_time(naive, self.zone)

    async def poll(self) -> DeviceStatus:
        """Read the short status into the cache (and beat the heartbeat)."""
        status = await self.io(self.driver.status)
        cache = self.cache
        cache.connected = True
        cache.mode, cache.sub_mode = status.mode, status.sub_mode
        cache.paper_present, cache.cover_open = status.paper_present, status.cover_open
        cache.open_document = status.mode is Mode.OPEN_DOCUMENT
        if status.mode in (Mode.SHIFT_OPEN, Mode.SHIFT_EXPIRED):
            cache.shift_open = True
        elif status.mode is Mode.SHIFT_CLOSED:
            cache.shift_open = False
        cache.heartbeat_mono = self.monotonic()
        return status

    def note_error(self, text: str, code: int | None = None, metric: str | None = None) -> None:
        """Record a problem for health (and the metrics hook); logged once per change."""
        if self.cache.last_error != text:
            log.warning("device %s: %s", self.device.id, text)
        self.cache.last_error, self.cache.last_error_code = text, code
        label = metric or (f"0x{code:02X}" if code is not None else None)
        if label is not None and self.hooks.device_error is not None:
            self.hooks.device_error(self.device.id, label)

    def clear_error(self) -> None:
        self.cache.last_error = None
        self.cache.last_error_code = None
