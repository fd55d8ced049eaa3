"""The sync worker: a plain asyncio loop that drains ``fiscalized`` documents to the export endpoint.

One round (:meth:`SyncWorker.run_once`):

1. paused (persisted switch) → nothing; wait for :meth:`wake` — unless the worker paused itself because the
   token was refused and the token has changed since: then it resumes (see :mod:`kkt_adapter.sync.credentials`);
2. the export endpoint asked us to hold off (``Retry-After``) or the breaker is open → no call; wait until then;
3. claim due documents with a lease (a batch when the breaker is closed, one probe otherwise);
4. submit them, up to ``concurrency`` at a time, each through the breaker, skipping the rest of the
   batch as soon as the breaker opens or a hold-off starts (their lease expires; they come back);
5. record each outcome: retry at now + backoff / ``Retry-After`` or dead (permanent rejection, or
   ``max_attempts`` reached) as it comes; a refused token (401/403) pauses delivery and keeps the
   document; the round's deliveries (tickets) all at once when the round's
   calls are done, in one store operation (one writer op per round, not one per document);
6. return how long to sleep: 0 if more is due, until the earliest ``next_attempt_at``/lease end, or
   indefinitely (bounded by ``max_idle_s``) until :meth:`wake`.

A crash at any point is harmless: a leased document becomes due again when its lease ends and is
submitted under the same id (so a crash before a round's deliveries are recorded only repeats them).
Run exactly one loop per worker (one breaker, one drain loop).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from pydantic import ValidationError

from kkt_adapter.buffer.records import StoredReceipt
from kkt_adapter.clock import utc_now
from kkt_adapter.export.build import NotFiscalizedError, build_document
from kkt_adapter.export.contract import ExportDocument
from kkt_adapter.export.outcome import AuthRefused, Delivered, Outcome, Permanent, RetryLater
from kkt_adapter.sync.backoff import MAX_SERVER_DELAY_S, retry_delay_s
from kkt_adapter.sync.breaker import Breaker, BreakerState, export_unhealthy
from kkt_adapter.sync.config import SyncConfig
from kkt_adapter.sync.credentials import (
    AUTH_POLL_S,
    PAUSE_REASON_SETTING,
    Credentials,
    PauseReason,
    auth_pause,
    token_changed,
)
from kkt_adapter.sync.loop import DrainLoop, Round, gather_bounded
from kkt_adapter.sync.ports import PAUSE_SETTING, SyncStore

log = logging.getLogger(__name__)

Submit = Callable[[ExportDocument], Awaitable[Outcome]]


class SyncWorker(DrainLoop):
    """Drains the buffer's ``fiscalized`` documents to the export endpoint (see the module docstring)."""

    def __init__(
        self,
        store: SyncStore,
        submit: Submit,
        config: SyncConfig,
        *,
        now: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        max_idle_s: float = 60.0,
        on_breaker_change: Callable[[str, str], None] | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        """``on_breaker_change(old, new)``: called on each breaker state change (metrics); ``credentials``:
        where the token comes from (named in the alarm, watched for a change after a refusal)."""
        breaker = Breaker(
            config.fail_max, config.reset_timeout_s, config.success_threshold, monotonic, on_breaker_change
        )
        super().__init__(
            store, config, breaker, now=now, monotonic=monotonic, rng=rng, max_idle_s=max_idle_s, label="sync"
        )
        self._store, self._submit = store, submit
        self._hold_until_mono: float | None = None
        self._credentials = credentials
        self.auth_refused: str | None = None  # the red alarm while the token is refused

    # --- control (the rest is DrainLoop's) ----------------------------------------------------------------

    async def set_paused(self, paused: bool, actor: str) -> None:
        """Persist the pause switch (audited by the store) and wake the loop; a resume also re-reads the token."""
        if not paused:
            await self._clear_auth_pause(actor)
        await super().set_paused(paused, actor)

    async def _clear_auth_pause(self, actor: str) -> None:
        if self.auth_refused is not None or await self._store.get_setting(PAUSE_REASON_SETTING):
            await self._store.set_setting(PAUSE_REASON_SETTING, "", actor)
        if self._credentials is not None:
            self._credentials.reload()
        self.auth_refused = None

    async def _resumed_after_token_change(self) -> bool:
        """While paused by a refused token: resume (audited, actor ``sync``) once the token changed."""
        reason = PauseReason.load(await self._store.get_setting(PAUSE_REASON_SETTING))
        self.auth_refused = reason.message if reason is not None and reason.kind == "auth" else None
        if not token_changed(reason, self._credentials):
            return False
        log.warning("export: the token changed after a refusal; resuming delivery")
        await self.set_paused(False, "sync: token changed")
        return True

    def hold_s(self) -> float:
        """Seconds left of a server-requested hold-off (0 if none)."""
        if self._hold_until_mono is None:
            return 0.0
        return max(self._hold_until_mono - self._monotonic(), 0.0)

    # --- the round ---------------------------------------------------------------------------------------

    async def run_once(self) -> Round:
        """One round (see the module docstring); never runs concurrently with another round."""
        self._begin_round()
        if await self.is_paused() and not await self._resumed_after_token_change():
            return Round(0, 0, AUTH_POLL_S if self.auth_refused else None, "paused")
        hold_s = self.hold_s()
        if hold_s > 0:
            return Round(0, 0, hold_s, "holding off at the endpoint's request")
        if (waiting := self._breaker_wait()) is not None:
            return waiting
        closed = self.breaker.state is BreakerState.CLOSED
        items = await self._store.claim_for_sync(
            self.config.batch if closed else 1, self.config.lease_s, self._now(), self.max_wait_s
        )
        if not items:
            return Round(0, 0, await self._due_in_s(), "idle")
        calls_before = self.stats.calls
        await self._submit_all(items, self.config.concurrency if closed else 1)
        if (more := self._full_batch(len(items), calls_before, closed)) is not None:
            return more  # a full batch went through: no need to ask
        return Round(len(items), self.stats.calls - calls_before, await self._due_in_s(), "submitted")

    @property
    def max_wait_s(self) -> float:
        """The longest retry wait this worker schedules: a later retry time means the clock was stepped back."""
        return max(self.config.backoff_cap_s, MAX_SERVER_DELAY_S)

    async def _due_in_s(self) -> float | None:
        due = await self._store.next_sync_due()
        if due is None:
            return None
        wait_s = (due - self._now()).total_seconds()
        if wait_s > max(self.max_wait_s, self.config.lease_s):
            return 0.0  # written before a backward clock step: due now (see Store.claim_for_sync)
        return max(wait_s, 0.0)

    async def _submit_all(self, items: list[StoredReceipt], concurrency: int) -> None:
        """Deliver ``items``; the round's deliveries are recorded at once when all calls are done."""
        probe = self.breaker.state is not BreakerState.CLOSED
        delivered: list[tuple[str, str]] = []

        async def one(item: StoredReceipt) -> None:
            if self.auth_refused is not None:
                self.stats.skipped += 1
                await self._store.release_leases([item.key])
                return
            if not probe and (self.breaker.state is not BreakerState.CLOSED or self.hold_s() > 0):
                self.stats.skipped += 1  # its lease ends and it comes back
                return
            await self._deliver(item, delivered)

        try:
            await gather_bounded(items, concurrency, one)
        finally:
            await self._record_delivered(delivered)

    async def _record_delivered(self, delivered: list[tuple[str, str]]) -> None:
        if not delivered:
            return
        now = self._now()
        skipped = await self._store.mark_delivered_many(delivered, now)
        for key in skipped:
            log.warning("export: %s was delivered but is no longer fiscalized; left as it is", key)
        self.stats.delivered += len(delivered) - len(skipped)
        self.stats.last_delivered_at = now

    async def _deliver(self, item: StoredReceipt, delivered: list[tuple[str, str]]) -> None:
        """Build and submit ``item``; a delivery is appended to ``delivered`` (recorded by the caller)."""
        try:
            document = build_document(item)
        except (NotFiscalizedError, ValidationError, ValueError) as error:
            await self._dead(item, f"cannot build the export document: {error}", None)
            return
        self.stats.calls += 1
        outcome = await self.breaker.call(lambda: self._submit(document), export_unhealthy)
        if outcome is None:
            self.stats.calls -= 1
            self.stats.skipped += 1
            return
        if isinstance(outcome, Delivered):
            delivered.append((item.key, outcome.ticket))
        else:
            await self._record_failure(item, outcome)

    async def _record_failure(self, item: StoredReceipt, outcome: Permanent | RetryLater | AuthRefused) -> None:
        if isinstance(outcome, AuthRefused):
            await self._pause_for_token(outcome)
            await self._store.release_leases([item.key])  # kept back by the pause: due at once on resume
        elif isinstance(outcome, Permanent):
            await self._dead(item, outcome.reason, outcome.response)
        else:
            await self._retry(item, outcome)

    async def _retry(self, item: StoredReceipt, outcome: RetryLater) -> None:
        self.stats.last_error = outcome.reason
        if outcome.delay_s is not None:
            until = self._monotonic() + min(max(outcome.delay_s, 0.0), MAX_SERVER_DELAY_S)
            self._hold_until_mono = max(self._hold_until_mono or 0.0, until)
        attempt = item.sync_attempts + 1
        if attempt >= self.config.max_attempts:
            await self._dead(item, f"gave up after {attempt} attempts; last: {outcome.reason}", outcome.response)
            return
        cfg = self.config
        delay_s = retry_delay_s(outcome.delay_s, attempt, cfg.backoff_base_s, cfg.backoff_cap_s, self._rng)
        now = self._now()
        await self._store.schedule_retry(
            item.key, now + timedelta(seconds=delay_s), outcome.reason, outcome.response, now
        )
        self.stats.retried += 1

    async def _pause_for_token(self, outcome: AuthRefused) -> None:
        """Keep the document (its lease ends, it stays fiscalized); pause delivery with the alarm's reason."""
        self.stats.last_error = outcome.reason
        if self.auth_refused is not None:
            return
        reason = auth_pause(outcome, self._credentials)
        self.auth_refused = reason.message
        log.error("export: %s", reason.message)
        await self._store.set_setting(PAUSE_REASON_SETTING, reason.dump(), "sync")
        await self._store.set_setting(PAUSE_SETTING, "true", "sync: token refused")

    async def _dead(self, item: StoredReceipt, reason: str, response: str | None) -> None:
        log.warning("export: %s dead-lettered: %s", item.key, reason)
        await self._store.mark_dead(item.key, reason, response, self._now())
        self.stats.dead += 1
        self.stats.last_error = reason
