"""The relay sync, stepped by hand with injected clocks, on a real buffer file and scripted or real OFDs."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from relay_helpers import FN, fn_message, open_store, put, sim_ticket
from sync_helpers import FakeClock

from kkt_adapter.buffer.outbox import OutboxState
from kkt_adapter.buffer.store import Store
from kkt_adapter.config.settings import OfdSettings, SyncSettings
from kkt_adapter.ofd.sim.control import spawned
from kkt_adapter.ofd.transport import OfdEndpoint, OfdTransportError, Stage, exchange
from kkt_adapter.sync.config import SyncConfig
from kkt_adapter.sync.ports import PAUSE_SETTING
from kkt_adapter.sync.relay import RelaySync
from kkt_adapter.sync.relay_service import RelayService

T = TypeVar("T")
CONFIG = SyncConfig(fail_max=3, reset_timeout_s=30.0, backoff_base_s=2.0, backoff_cap_s=60.0, max_attempts=4)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def ticketing(**changes: object) -> Callable[[bytes], Coroutine[Any, Any, bytes]]:
    async def answer(message: bytes) -> bytes:
        return sim_ticket(message, **changes)  # type: ignore[arg-type]

    return answer


async def unreachable(message: bytes) -> bytes:
    raise OfdTransportError(Stage.CONNECT, "refused")


async def relay_with(tmp_path: Path, clock: FakeClock, exchange_fn: Any, **options: Any) -> tuple[Store, RelaySync]:
    store = await open_store(tmp_path / "buffer.db", clock.now)
    relay = RelaySync(store, exchange_fn, options.pop("config", CONFIG), now=clock.now, monotonic=clock.monotonic,
                      rng=random.Random(7), **options)  # fmt: skip
    return store, relay


def test_a_read_message_gets_its_ticket_stored_and_the_device_woken(tmp_path: Path) -> None:
    """A valid ticket is committed as ``answered`` with the whole answer, and on_answer names the message."""
    woken: list[int] = []

    async def case() -> None:
        clock = FakeClock()
        store, relay = await relay_with(tmp_path, clock, ticketing(), on_answer=lambda m: woken.append(m.fd_number))
        await put(store, 1)
        assert (await relay.run_once()).called == 1
        row = await store.outbox_get(FN, 1)
        assert row is not None
        assert row.state is OutboxState.ANSWERED
        assert row.answer == sim_ticket(fn_message(1))
        await store.close()

    run(case())
    assert woken == [1]


def test_an_unreachable_ofd_schedules_a_jittered_retry(tmp_path: Path) -> None:
    """A transport failure leaves the message ``read`` with one attempt and a retry within the first backoff."""

    async def case() -> None:
        clock = FakeClock()
        store, relay = await relay_with(tmp_path, clock, unreachable)
        await put(store, 1)
        await relay.run_once()
        row = await store.outbox_get(FN, 1)
        assert row is not None
        assert row.state is OutboxState.READ
        assert row.attempts == 1
        assert row.next_attempt_at is not None
        assert clock.now() <= row.next_attempt_at <= clock.now() + timedelta(seconds=CONFIG.backoff_base_s)
        assert "refused" in (row.last_error or "")
        await store.close()

    run(case())


def test_an_answer_that_is_not_a_ticket_is_never_stored_for_writing(tmp_path: Path) -> None:
    """A ticket for another FD is retried with its reason, then dead-lettered with the answer, never answered."""

    async def case() -> None:
        clock = FakeClock()
        config = SyncConfig(fail_max=100, backoff_base_s=1.0, backoff_cap_s=1.0, max_attempts=3)
        store, relay = await relay_with(tmp_path, clock, ticketing(fd_number=2), config=config)
        await put(store, 1)
        for _ in range(3):
            await relay.run_once()
            clock.advance(2.0)
        row = await store.outbox_get(FN, 1)
        assert row is not None
        assert row.state is OutboxState.DEAD
        assert "fd_number" in (row.dead_reason or "")
        assert "gave up after 3 attempts" in (row.dead_reason or "")
        assert row.answer == sim_ticket(fn_message(1), fd_number=2)
        await store.close()

    run(case())


def test_an_ofd_answer_code_is_dead_lettered_at_once_with_the_code(tmp_path: Path) -> None:
    """A well-formed ticket with tag 1022 ≠ 0 goes to the DLQ on the first answer, the code in the reason."""

    async def case() -> None:
        clock = FakeClock()

        async def refusing(message: bytes) -> bytes:
            return sim_ticket(message, code=14)

        store, relay = await relay_with(tmp_path, clock, refusing)
        await put(store, 1)
        await relay.run_once()
        row = await store.outbox_get(FN, 1)
        assert row is not None
        assert row.state is OutboxState.DEAD
        assert "OFD answer code 14" in (row.dead_reason or "")
        assert relay.breaker.fail_counter == 0  # the OFD answered: not a link failure
        await store.close()

    run(case())


def test_the_breaker_opens_after_fail_max_and_stops_calling(tmp_path: Path) -> None:
    """fail_max transport failures open the breaker; the next round makes no call until its probe time."""
    calls: list[bytes] = []

    async def counting(message: bytes) -> bytes:
        calls.append(message)
        raise OfdTransportError(Stage.READ, "timeout")

    async def case() -> None:
        clock = FakeClock()
        store, relay = await relay_with(tmp_path, clock, counting)
        await put(store, 1, 2, 3)
        await relay.run_once()
        assert relay.breaker.state.value == "open"
        clock.advance(5.0)
        result = await relay.run_once()
        assert (result.called, result.why) == (0, "breaker open")
        assert 0 < (result.wait_s or 0) <= CONFIG.reset_timeout_s
        await store.close()

    run(case())
    assert len(calls) == CONFIG.fail_max


def test_the_pause_switch_stops_the_relay(tmp_path: Path) -> None:
    """With ``sync.paused`` on, a round claims and sends nothing."""

    async def case() -> None:
        clock = FakeClock()
        store, relay = await relay_with(tmp_path, clock, ticketing())
        await put(store, 1)
        await store.set_setting(PAUSE_SETTING, "true", "test")
        assert (await relay.run_once()).why == "paused"
        row = await store.outbox_get(FN, 1)
        assert row is not None
        assert row.state is OutboxState.READ
        assert row.attempts == 0
        await store.close()

    run(case())


def test_a_message_leased_by_a_crashed_round_is_sent_again_after_the_lease(tmp_path: Path) -> None:
    """A claim never followed by a commit (a crash) comes back when its lease ends: at least once."""

    async def case() -> None:
        clock = FakeClock()
        store, relay = await relay_with(tmp_path, clock, ticketing())
        await put(store, 1)
        assert len(await store.outbox_claim(10, CONFIG.lease_s, clock.now())) == 1  # the "crashed" round
        assert (await relay.run_once()).called == 0
        clock.advance(CONFIG.lease_s + 1)
        assert (await relay.run_once()).called == 1
        row = await store.outbox_get(FN, 1)
        assert row is not None
        assert row.state is OutboxState.ANSWERED
        await store.close()

    run(case())


def test_against_the_tcp_simulator_tickets_are_stored_and_bad_answers_are_not(tmp_path: Path) -> None:
    """Over real TCP: FD 1 gets the simulator's ticket; FD 2 under the wrong-FD fault stays ``read``."""
    with spawned() as sim:
        endpoint = OfdEndpoint("127.0.0.1", sim.port, 2.0, 5.0)

        async def case() -> None:
            clock = FakeClock()
            store, relay = await relay_with(tmp_path, clock, lambda m: exchange(endpoint, m))
            await put(store, 1)
            await relay.run_once()
            sim.control.fault("wrong_fd")
            await put(store, 2)
            await relay.run_once()
            one, two = await store.outbox_get(FN, 1), await store.outbox_get(FN, 2)
            assert one is not None
            assert one.state is OutboxState.ANSWERED
            assert two is not None
            assert two.state is OutboxState.READ
            assert "fd_number" in (two.last_error or "")
            await store.close()

        run(case())
        assert [(r["fd_number"], r["received"]) for r in sim.control.received()] == [(1, 1), (2, 1)]


def test_without_an_address_the_relay_retries_saying_so(tmp_path: Path) -> None:
    """No [ofd] host/port and no table 19 yet: the message stays ``read``, its error names what to set."""

    async def case() -> None:
        store = await open_store(tmp_path / "buffer.db", FakeClock().now)
        service = await RelayService.start(store, OfdSettings(), SyncSettings(backoff_base_s=60.0))
        await put(store, 1)
        service.worker.wake()

        async def retried() -> bool:
            row = await store.outbox_get(FN, 1)
            return row is not None and row.attempts >= 1

        for _ in range(200):
            if await retried():
                break
            await asyncio.sleep(0.01)
        row = await store.outbox_get(FN, 1)
        assert row is not None
        assert row.state is OutboxState.READ
        assert "set [ofd] host and port" in (row.last_error or "")
        service.use_device_address("127.0.0.1", 7777)
        assert service.endpoint.source == "table 19"
        await service.stop()
        await store.close()

    run(case())


def test_a_configured_address_wins_over_table_19(tmp_path: Path) -> None:
    """With [ofd] host/port set, the KKT's table-19 address is ignored."""

    async def case() -> None:
        store = await open_store(tmp_path / "buffer.db", FakeClock().now)
        service = await RelayService.start(store, OfdSettings(host="ofd.example", port=7777), SyncSettings())
        service.use_device_address("other.example", 1)
        assert service.endpoint.endpoint is not None
        assert (service.endpoint.endpoint.host, service.endpoint.source) == ("ofd.example", "config")
        await service.stop()
        await store.close()

    run(case())
