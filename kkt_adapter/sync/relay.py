"""The relay sync: sends the FN's messages from the buffer's outbox to the OFD and stores its tickets.

One round (:meth:`RelaySync.run_once`), the export's machinery reused:

1. paused (the persisted ``sync.paused`` switch, shared with the export) → nothing; wait for :meth:`wake`;
2. breaker open → no call; wait for its probe time;
3. claim due ``read`` messages with a lease (a batch when the breaker is closed, one probe otherwise);
4. send each over TCP (one connection per message), up to ``concurrency`` at a time, through the breaker;
5. judge the answer (:func:`~kkt_adapter.sync.relay_outcome.judge`) and commit it at once:
   a valid ticket → ``answered`` (the device worker writes it into the FN; ``on_answer`` wakes it);
   an OFD answer code → dead (DLQ) with the code; anything else → retry after full-jitter backoff,
   dead after ``max_attempts`` — an answer that is not a valid ticket is never stored for writing;
6. return how long to sleep: 0 if more is due, until the earliest retry/lease end, or until woken.

A crash at any point is harmless: a leased message is claimed again when its lease ends and sent again
(the OFD may see it twice; delivery is at least once); a stored answer is never fetched again (only
``read`` rows are claimed). ``lease_s`` must exceed the exchange's connect + read timeouts.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from kkt_adapter.buffer.outbox import OutboxMessage
from kkt_adapter.clock import utc_now
from kkt_adapter.ofd.transport import OfdTransportError
from kkt_adapter.sync.backoff import full_jitter_s
from kkt_adapter.sync.breaker import Breaker, BreakerState
from kkt_adapter.sync.config import SyncConfig
from kkt_adapter.sync.loop import DrainLoop, Round, gather_bounded
from kkt_adapter.sync.relay_outcome import Refused, RelayOutcome, Retry, Ticket, judge, unhealthy

log = logging.getLogger(__name__)

Exchange = Callable[[bytes], Awaitable[bytes]]


class RelayStore(Protocol):
    """The buffer's outbox operations the relay sync uses (``Store`` implements them); each atomic."""

    async def outbox_claim(
        self, limit: int, lease_s: float, now: datetime, max_wait_s: float = 3600.0
    ) -> list[OutboxMessage]: ...

    async def outbox_record_answer(self, fn_serial: str, fd_number: int, answer: bytes, now: datetime) -> bool: ...

    async def outbox_retry(
        self, fn_serial: str, fd_number: int, next_attempt_at: datetime, error: str, now: datetime
    ) -> None: ...

    async def outbox_dead(
        self, fn_serial: str, fd_number: int, reason: str, now: datetime, answer: bytes | None = None
    ) -> None: ...

    async def outbox_next_due(self) -> datetime | None: ...

    async def get_setting(self, name: str) -> str | None: ...

    async def set_setting(self, name: str, value: str, actor: str) -> None: ...


class RelaySync(DrainLoop):
    """Drains the outbox's ``read`` messages to the OFD (see the module docstring). One loop per daemon."""

    def __init__(
        self,
        store: RelayStore,
        exchange: Exchange,
        config: SyncConfig,
        *,
        now: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        max_idle_s: float = 60.0,
        on_breaker_change: Callable[[str, str], None] | None = None,
        on_answer: Callable[[OutboxMessage], None] | None = None,
        on_outcome: Callable[[str], None] | None = None,
    ) -> None:
        """``on_answer(message)``: a ticket was stored for it (wake the device worker); ``on_outcome(kind)``:
        ``ticket``, ``retry``, ``refused`` after every exchange (metrics). The TCP protocol has no
        server-requested hold-off: :meth:`hold_s` stays 0 (kept for the health feed's shape)."""
        breaker = Breaker(
            config.fail_max, config.reset_timeout_s, config.success_threshold, monotonic, on_breaker_change, name="ofd"
        )
        super().__init__(
            store, config, breaker, now=now, monotonic=monotonic, rng=rng, max_idle_s=max_idle_s, label="OFD relay"
        )
        self._store, self._exchange = store, exchange
        self._on_answer, self._on_outcome = on_answer, on_outcome

    async def run_once(self) -> Round:
        """One round (see the module docstring)."""
        self._begin_round()
        if await self.is_paused():
            return Round(0, 0, None, "paused")
        if (waiting := self._breaker_wait()) is not None:
            return waiting
        closed = self.breaker.state is BreakerState.CLOSED
        cfg = self.config
        items = await self._store.outbox_claim(cfg.batch if closed else 1, cfg.lease_s, self._now(), cfg.backoff_cap_s)
        if not items:
            return Round(0, 0, await self._due_in_s(), "idle")
        before = self.stats.calls
        await gather_bounded(items, cfg.concurrency if closed else 1, lambda item: self._send(item, probe=not closed))
        if (more := self._full_batch(len(items), before, closed)) is not None:
            return more
        return Round(len(items), self.stats.calls - before, await self._due_in_s(), "sent")

    async def _due_in_s(self) -> float | None:
        due = await self._store.outbox_next_due()
        if due is None:
            return None
        return max((due - self._now()).total_seconds(), 0.0)

    async def _attempt(self, item: OutboxMessage) -> RelayOutcome:
        try:
            answer = await self._exchange(item.message)
        except OfdTransportError as error:
            return judge(error, item.fn_serial, item.fd_number)
        return judge(answer, item.fn_serial, item.fd_number)

    async def _send(self, item: OutboxMessage, probe: bool) -> None:
        if not probe and self.breaker.state is not BreakerState.CLOSED:
            self.stats.skipped += 1  # the breaker opened meanwhile: the lease ends and it comes back
            return
        self.stats.calls += 1
        outcome = await self.breaker.call(lambda: self._attempt(item), unhealthy)
        if outcome is None:
            self.stats.calls -= 1
            self.stats.skipped += 1
            return
        if self._on_outcome is not None:
            self._on_outcome({Ticket: "ticket", Retry: "retry", Refused: "refused"}[type(outcome)])
        if isinstance(outcome, Ticket):
            await self._stored(item, outcome)
        elif isinstance(outcome, Refused):
            await self._dead(item, outcome.reason, outcome.answer)
        else:
            await self._retry(item, outcome)

    async def _stored(self, item: OutboxMessage, outcome: Ticket) -> None:
        now = self._now()
        if await self._store.outbox_record_answer(item.fn_serial, item.fd_number, outcome.answer, now):
            self.stats.delivered += 1
            self.stats.last_delivered_at = now
            if self._on_answer is not None:
                self._on_answer(item)
        else:
            log.warning("OFD relay: FN %s FD %d already has an answer; the new one is dropped", item.fn_serial,
                        item.fd_number)  # fmt: skip

    async def _retry(self, item: OutboxMessage, outcome: Retry) -> None:
        self.stats.last_error = outcome.reason
        attempt = item.attempts + 1
        if attempt >= self.config.max_attempts:
            await self._dead(item, f"gave up after {attempt} attempts; last: {outcome.reason}", outcome.answer)
            return
        delay_s = full_jitter_s(attempt, self.config.backoff_base_s, self.config.backoff_cap_s, self._rng)
        now = self._now()
        await self._store.outbox_retry(
            item.fn_serial, item.fd_number, now + timedelta(seconds=delay_s), outcome.reason, now
        )
        self.stats.retried += 1

    async def _dead(self, item: OutboxMessage, reason: str, answer: bytes | None) -> None:
        log.warning("OFD relay: FN %s FD %d dead-lettered: %s", item.fn_serial, item.fd_number, reason)
        await self._store.outbox_dead(item.fn_serial, item.fd_number, reason, self._now(), answer)
        self.stats.dead += 1
        self.stats.last_error = reason
