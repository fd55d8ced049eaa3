"""The drain loop both sync workers share (the export's :class:`~kkt_adapter.sync.worker.SyncWorker` and the
OFD relay's :class:`~kkt_adapter.sync.relay.RelaySync`); each brings its own round as policy.

:class:`DrainLoop` owns what is the same for both: the persisted pause switch, waking and stopping, running
rounds until stopped (a failed round is logged and retried after ``backoff_base_s``), sleeping until the next
round is due (early on :meth:`~DrainLoop.wake`), the round's breaker gate, submitting a claimed batch with
bounded concurrency, and the status shape of the health feed. A subclass implements :meth:`~DrainLoop.run_once`
(starting with :meth:`~DrainLoop._begin_round`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from kkt_adapter.sync.breaker import Breaker
from kkt_adapter.sync.config import SyncConfig
from kkt_adapter.sync.ports import PAUSE_SETTING

log = logging.getLogger(__name__)

T = TypeVar("T")

STOP_TIMEOUT_S = 15.0


class SettingStore(Protocol):
    """The settings a drain loop reads and writes (the persisted pause switch); each atomic and audited."""

    async def get_setting(self, name: str) -> str | None: ...

    async def set_setting(self, name: str, value: str, actor: str) -> None: ...


@dataclass
class SyncStats:
    """Counters since start (status, health, tests). ``last_delivered_at``: the last delivery or ticket."""

    rounds: int = 0
    calls: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    skipped: int = 0
    last_error: str | None = None
    last_delivered_at: datetime | None = None


@dataclass(frozen=True)
class Round:
    """What one round did, and how long the loop may sleep before the next (None: until woken)."""

    claimed: int
    called: int
    wait_s: float | None
    why: str


class DrainLoop(ABC):
    """Rounds until :meth:`stop`, one at a time; ``label`` names the loop in the log. Run exactly one loop each."""

    def __init__(
        self,
        store: SettingStore,
        config: SyncConfig,
        breaker: Breaker,
        *,
        now: Callable[[], datetime],
        monotonic: Callable[[], float],
        rng: random.Random | None,
        max_idle_s: float,
        label: str,
    ) -> None:
        """``now``/``monotonic``/``rng``: the wall clock, the monotonic clock and the jitter source (tests
        inject them); ``max_idle_s`` bounds every sleep."""
        self._settings, self.config, self.breaker = store, config, breaker
        self._now, self._monotonic = now, monotonic
        self._rng = rng or random.Random()  # noqa: S311 -- jitter, not security
        self._max_idle_s, self._label = max_idle_s, label
        self.stats = SyncStats()
        self._wake = asyncio.Event()
        self._stopping = False

    @abstractmethod
    async def run_once(self) -> Round:
        """One round; never runs concurrently with another round."""

    # --- control ----------------------------------------------------------------------------------------

    def wake(self) -> None:
        """Start the next round now (new work was stored or replayed). Never blocks."""
        self._wake.set()

    def stop(self) -> None:
        """Ask :meth:`run` to return after the current round."""
        self._stopping = True
        self._wake.set()

    async def is_paused(self) -> bool:
        """Whether the persisted pause switch is on."""
        return await self._settings.get_setting(PAUSE_SETTING) == "true"

    async def set_paused(self, paused: bool, actor: str) -> None:
        """Persist the pause switch (audited by the store) and wake the loop."""
        await self._settings.set_setting(PAUSE_SETTING, "true" if paused else "false", actor)
        self.wake()

    def hold_s(self) -> float:
        """Seconds left of a server-requested hold-off (0 if none; the default has none)."""
        return 0.0

    def status(self) -> dict[str, Any]:
        """Breaker state, hold-off and counters, JSON-ready."""
        stats = asdict(self.stats)
        if self.stats.last_delivered_at is not None:
            stats["last_delivered_at"] = self.stats.last_delivered_at.isoformat()
        return {
            "breaker": self.breaker.state.value,
            "fail_counter": self.breaker.fail_counter,
            "probe_in_s": self.breaker.probe_in_s(),
            "hold_s": self.hold_s(),
            "stats": stats,
        }

    # --- the loop ---------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run rounds until :meth:`stop`; a failed round is logged and retried after ``backoff_base_s``."""
        while not self._stopping:
            try:
                wait_s = (await self.run_once()).wait_s
            except Exception:
                log.exception("%s round failed", self._label)
                wait_s = self.config.backoff_base_s
            await self.sleep_until_due(wait_s)

    async def sleep_until_due(self, wait_s: float | None) -> None:
        """Sleep ``wait_s`` (None: ``max_idle_s``), returning early on :meth:`wake`."""
        timeout_s = self._max_idle_s if wait_s is None else min(wait_s, self._max_idle_s)
        if timeout_s <= 0:
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout_s)

    def _begin_round(self) -> None:
        """Count the round; a wake that came before it is served by it."""
        self._wake.clear()
        self.stats.rounds += 1

    def _breaker_wait(self) -> Round | None:
        """The round to return while the breaker is open and its probe is not due yet, else None."""
        probe_in_s = self.breaker.probe_in_s()
        if probe_in_s is not None and probe_in_s > 0:
            return Round(0, 0, probe_in_s, "breaker open")
        return None

    def _full_batch(self, claimed: int, calls_before: int, closed: bool) -> Round | None:
        """``more due`` (sleep 0) when a closed breaker let a whole batch through, else None (ask the store)."""
        called = self.stats.calls - calls_before
        if closed and claimed == self.config.batch and called == claimed:
            return Round(claimed, called, 0.0, "more due")
        return None


async def gather_bounded(items: Iterable[T], concurrency: int, each: Callable[[T], Awaitable[None]]) -> None:
    """Run ``each(item)`` for all items, at most ``concurrency`` at a time; all run, then the first error
    (if any) is raised."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: T) -> None:
        async with gate:
            await each(item)

    results = await asyncio.gather(*(one(item) for item in items), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise errors[0]


async def stop_loop(loop: DrainLoop, task: asyncio.Task[None], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Stop ``loop`` and wait for its ``task`` to finish the current round (bounded by ``timeout_s``, then
    cancel)."""
    loop.stop()
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout_s)
    except TimeoutError:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
