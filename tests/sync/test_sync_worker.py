"""The sync worker stepped by hand against an in-memory store, injected clocks and a scripted OFD."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from sync_helpers import FakeClock, FakeStore, ScriptedOfd, stored

from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.export.contract import ExportDocument
from kkt_adapter.export.outcome import Delivered, Outcome, Permanent, RetryLater
from kkt_adapter.sync.config import SyncConfig
from kkt_adapter.sync.worker import SyncWorker

T = TypeVar("T")
S = ReceiptState
DOWN = RetryLater(None, "transport: ConnectError")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def make(
    count: int = 3, ofd: ScriptedOfd | None = None, **config: Any
) -> tuple[SyncWorker, FakeStore, ScriptedOfd, FakeClock]:
    clock = FakeClock()
    store = FakeStore(clock)
    store.add(*(stored(i) for i in range(count)))
    ofd = ofd or ScriptedOfd()
    cfg = SyncConfig(**{"concurrency": 4, "batch": 8, "reset_timeout_s": 30.0, **config})
    worker = SyncWorker(store, ofd, cfg, now=clock.now, monotonic=clock.monotonic, rng=random.Random(7))
    return worker, store, ofd, clock


def test_due_documents_are_delivered_with_their_tickets() -> None:
    """One round claims, submits and marks every due document delivered with the OFD's ticket."""
    worker, store, ofd, _ = make(3)
    result = run(worker.run_once())
    assert (result.claimed, result.called) == (3, 3)
    assert [r.ofd_ticket for r in store.in_state(S.DELIVERED)] == [f"T-{doc_id}" for doc_id in ofd.calls]
    assert ofd.calls[0] == "9999078900012345-1"
    assert result.wait_s is None


def test_submissions_are_bounded_by_the_concurrency() -> None:
    """No more than ``concurrency`` submissions are in flight at once, and more than one is."""
    worker, _, ofd, _ = make(20, batch=20, concurrency=4)
    run(worker.run_once())
    assert len(ofd.calls) == 20
    assert ofd.max_in_flight == 4


def test_a_transient_failure_schedules_a_jittered_retry_within_the_backoff() -> None:
    """RetryLater → attempts + 1 and next attempt in [now, now + base] for the first failure."""
    worker, store, _, clock = make(1, ScriptedOfd(lambda _doc: DOWN), backoff_base_s=4.0)
    run(worker.run_once())
    row = store.rows["k0"]
    assert row.state is S.FISCALIZED
    assert row.sync_attempts == 1
    assert row.next_attempt_at is not None
    assert clock.wall <= row.next_attempt_at <= clock.wall + timedelta(seconds=4)
    assert row.last_error == DOWN.reason


def test_retry_after_sets_the_retry_time_and_holds_every_call() -> None:
    """429 with Retry-After 30: the document retries at now + 30 s and the next round makes no call."""
    limited = RetryLater(30.0, "429 rate limited", unhealthy=False, status=429)
    worker, store, ofd, clock = make(1, ScriptedOfd(lambda _doc: limited))
    run(worker.run_once())
    assert store.rows["k0"].next_attempt_at == clock.wall + timedelta(seconds=30)
    store.add(stored(5))
    held = run(worker.run_once())
    assert (held.called, held.wait_s) == (0, 30.0)
    assert len(ofd.calls) == 1
    assert worker.breaker.fail_counter == 0


def test_a_permanent_rejection_goes_to_the_dlq_with_reason_and_response() -> None:
    """Permanent → dead, keeping the reason and the OFD's body."""
    rejected = Permanent("422 document rejected as invalid", 422, '{"error":"validation"}')
    worker, store, _, _ = make(1, ScriptedOfd(lambda _doc: rejected))
    run(worker.run_once())
    row = store.rows["k0"]
    assert row.state is S.DEAD
    assert row.dead_reason == rejected.reason
    assert row.last_response == '{"error":"validation"}'


def test_a_document_goes_to_the_dlq_when_attempts_run_out() -> None:
    """The max_attempts-th transient failure dead-letters the document instead of retrying."""
    worker, store, _, clock = make(1, ScriptedOfd(lambda _doc: DOWN), max_attempts=3, fail_max=100)
    for _ in range(3):
        clock.advance(10_000)
        run(worker.run_once())
    row = store.rows["k0"]
    assert row.state is S.DEAD
    assert row.dead_reason is not None
    assert "gave up after 3 attempts" in row.dead_reason


def test_breaker_opens_after_fail_max_and_then_makes_no_calls() -> None:
    """Five unhealthy outcomes open the breaker; the next rounds call nothing and say how long to wait."""
    worker, _store, ofd, clock = make(40, ScriptedOfd(lambda _doc: DOWN), batch=40, concurrency=1)
    run(worker.run_once())
    assert len(ofd.calls) == 5
    assert worker.breaker.state.value == "open"
    clock.advance(10)
    quiet = run(worker.run_once())
    assert (quiet.called, quiet.wait_s) == (0, 20.0)
    assert len(ofd.calls) == 5


def test_breaker_state_changes_are_reported() -> None:
    """on_breaker_change sees closed → open when the breaker trips, and nothing for closed → closed."""
    clock = FakeClock()
    store = FakeStore(clock)
    store.add(*(stored(i) for i in range(6)))
    changes: list[tuple[str, str]] = []
    worker = SyncWorker(
        store,
        ScriptedOfd(lambda _doc: DOWN),
        SyncConfig(concurrency=1, batch=6),
        now=clock.now,
        monotonic=clock.monotonic,
        on_breaker_change=lambda old, new: changes.append((old, new)),
    )
    run(worker.run_once())
    assert changes == [("closed", "open")]


def test_after_the_reset_timeout_exactly_one_probe_is_sent() -> None:
    """At reset_timeout the round claims and submits one document only, even with a backlog."""
    worker, _store, ofd, clock = make(40, ScriptedOfd(lambda _doc: DOWN), batch=40, concurrency=8)
    run(worker.run_once())
    calls_in_outage = len(ofd.calls)
    assert calls_in_outage <= 8 + 5  # at most the first wave in flight when it tripped
    clock.advance(30)
    probe = run(worker.run_once())
    assert probe.claimed == 1
    assert len(ofd.calls) == calls_in_outage + 1
    assert worker.breaker.state.value == "open"  # the probe failed: open again


def test_breaker_closes_after_success_threshold_probes_then_drains_concurrently() -> None:
    """Two successful single probes close the breaker; the following round uses the full batch."""
    state = {"down": True}
    ofd = ScriptedOfd(lambda doc: DOWN if state["down"] else Delivered(f"T-{doc.id}", 201, ""))
    worker, _store, _, clock = make(30, ofd, batch=10, concurrency=5, fail_max=2, success_threshold=2)
    run(worker.run_once())
    state["down"] = False
    clock.advance(30)
    first, second = run(worker.run_once()), run(worker.run_once())
    assert (first.called, second.called) == (1, 1)
    assert worker.breaker.state.value == "closed"
    assert run(worker.run_once()).called == 10


def test_breaker_timing_follows_the_injected_monotonic_clock() -> None:
    """The probe becomes due when the monotonic clock passes reset_timeout, whatever the wall clock says."""
    worker, _, _, clock = make(10, ScriptedOfd(lambda _doc: DOWN), concurrency=1)
    run(worker.run_once())
    clock.wall -= timedelta(days=1)  # NTP stepped the wall clock back
    clock.mono += 30
    assert worker.breaker.probe_in_s() == 0.0


def test_permanent_rejections_and_rate_limits_do_not_trip_the_breaker() -> None:
    """The OFD answered: a 422 or 429 is not a sign of an outage."""
    answers: list[Outcome] = [Permanent("422", 422) for _ in range(6)]
    answers.append(RetryLater(None, "429", unhealthy=False, status=429))
    it = iter(answers)
    worker, _, _, _ = make(7, ScriptedOfd(lambda _doc: next(it)), batch=7, concurrency=1)
    run(worker.run_once())
    assert worker.breaker.state.value == "closed"


def test_a_paused_worker_claims_nothing_until_resumed() -> None:
    """The persisted pause switch stops rounds; resuming lets the next round deliver."""
    worker, store, _ofd, _ = make(2)
    run(worker.set_paused(True, "admin"))
    assert store.settings["sync.paused"] == "true"
    paused = run(worker.run_once())
    assert (paused.why, paused.wait_s, store.claims) == ("paused", None, [])
    run(worker.set_paused(False, "admin"))
    assert run(worker.run_once()).called == 2


def test_idle_round_sleeps_until_the_earliest_retry_time() -> None:
    """With nothing due now, the round's wait is the time to the earliest next_attempt_at."""
    worker, store, _, clock = make(1, ScriptedOfd(lambda _doc: RetryLater(12.0, "503", status=503)))
    run(worker.run_once())
    clock.advance(12.5)  # past the hold-off …
    store.rows["k0"] = store.rows["k0"].__class__(
        **{**store.rows["k0"].__dict__, "next_attempt_at": clock.wall + timedelta(seconds=5)}
    )
    idle = run(worker.run_once())
    assert (idle.claimed, idle.why, idle.wait_s) == (0, "idle", 5.0)


def test_a_document_without_fiscal_attributes_is_dead_lettered_without_a_call() -> None:
    """A stored receipt missing its FD number cannot be built: DLQ, no OFD call."""
    worker, store, ofd, _ = make(0)
    store.add(stored(0).__class__(**{**stored(0).__dict__, "fd_number": None}))
    run(worker.run_once())
    assert ofd.calls == []
    reason = store.rows["k0"].dead_reason
    assert reason is not None
    assert "cannot build" in reason


def test_run_loop_wakes_immediately_for_a_new_document() -> None:
    """An idle run() loop (nothing due, long idle timeout) delivers a new document right after wake()."""

    async def scenario() -> ReceiptState:
        worker, store, _, _ = make(0)
        worker._max_idle_s = 3600  # an un-woken loop would sleep for an hour
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(0.01)
        store.add(stored(1))
        worker.wake()
        await asyncio.wait_for(store.delivered.wait(), 5)
        worker.stop()
        await asyncio.wait_for(task, 5)
        return store.rows["k1"].state

    assert run(scenario()) is ReceiptState.DELIVERED


def test_the_same_document_id_is_used_on_every_attempt() -> None:
    """A retried document is resubmitted under the same id and content."""
    seen: list[ExportDocument] = []

    def answer(doc: ExportDocument) -> Outcome:
        seen.append(doc)
        return DOWN if len(seen) == 1 else Delivered("T", 200, "")

    worker, store, _, clock = make(1, ScriptedOfd(answer))
    run(worker.run_once())
    clock.advance(1000)
    run(worker.run_once())
    assert seen[0] == seen[1]
    assert store.rows["k0"].state is S.DELIVERED


def test_a_rounds_deliveries_are_recorded_in_one_store_operation() -> None:
    """Twenty documents delivered in one round → one ``mark_delivered_many`` call with all twenty tickets."""
    worker, store, _, _ = make(20, batch=20, concurrency=4)
    run(worker.run_once())
    assert store.delivery_calls == [20]
    assert len(store.in_state(S.DELIVERED)) == 20
    assert worker.stats.delivered == 20


def test_deliveries_are_recorded_even_when_other_documents_of_the_round_fail() -> None:
    """A round with failures still records its deliveries (once) and schedules the failed retry."""
    answers: list[Outcome] = [Delivered("T1", 201, ""), DOWN, Delivered("T3", 201, "")]
    outcomes = iter(answers)
    worker, store, _, _ = make(3, ScriptedOfd(lambda _doc: next(outcomes)), concurrency=1)
    run(worker.run_once())
    assert store.delivery_calls == [2]
    assert [r.ofd_ticket for r in store.in_state(S.DELIVERED)] == ["T1", "T3"]
    assert [r.sync_attempts for r in store.in_state(S.FISCALIZED)] == [1]
