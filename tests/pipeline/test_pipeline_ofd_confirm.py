"""The OFD's confirmation of a receipt through the whole relay: emulated FN on a pty, the relay over real TCP
to ``kkt-adapter ofd-sim``; ``ofd_confirmed_at`` follows the ticket into the FN, never the OFD's mere answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ofd_relay_rig import DEVICE, RelayRig, chain_ok, relay_rig
from pipeline_app import build, serve
from pipeline_rig import all_in, fn_serial_of, make_emulator, sale, settings_for, wait_until

from kkt_adapter.buffer.outbox import OutboxState, event_key
from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.config.settings import OfdMode, OfdSettings
from kkt_adapter.ofd.sim.control import RunningSim, spawned

FN = fn_serial_of(DEVICE)


@pytest.fixture
def sim() -> Iterator[RunningSim]:
    with spawned() as running:
        yield running


async def confirmed(rr: RelayRig, key: str) -> bool:
    stored = await rr.rig.store.get(key)
    return stored is not None and stored.ofd_confirmed_at is not None


def test_a_receipt_is_confirmed_only_once_its_ticket_is_in_the_fn(tmp_path: Path, sim: RunningSim) -> None:
    """While the OFD refuses connections the fiscalized receipt keeps ``ofd_confirmed_at`` null; once the OFD
    is back it is set in the commit that marks its ticket written into the FN."""

    async def case() -> None:
        async with relay_rig(tmp_path, sim) as rr:
            sim.control.fault("refuse")
            await rr.rig.post("a", sale(1000, "a"), DEVICE)
            fiscal = frozenset({ReceiptState.FISCALIZED})
            await wait_until(lambda: all_in(rr.rig.store, ["a"], fiscal), 10, "fiscalized")

            async def retried() -> bool:
                head = await rr.rig.store.outbox_get(FN, 1)
                return head is not None and head.attempts >= 2

            await wait_until(retried, 30, "the OFD refused twice")
            assert not await confirmed(rr, "a")
            sim.control.clear()
            rr.relay.worker.wake()
            await wait_until(lambda: confirmed(rr, "a"), 30, "the receipt confirmed once the OFD is back")
            stored = await rr.rig.store.get("a")
            assert stored is not None
            assert stored.fd_number is not None
            row = await rr.rig.store.outbox_get(FN, stored.fd_number)
            assert row is not None
            assert row.state is OutboxState.WRITTEN
            assert stored.ofd_confirmed_at == row.written_at
            assert stored.state is ReceiptState.FISCALIZED  # the state is the export's business
            mine = [e for e in await rr.rig.store.events_of("a") if e.actor == "ofd"]
            written = [
                e for e in await rr.rig.store.events_of(event_key(FN, stored.fd_number)) if e.to_state == "written"
            ]
            assert len(mine) == len(written) == 1
            assert written[0].seq == mine[0].seq + 1  # one writer operation

    asyncio.run(case())
    assert chain_ok(tmp_path / "buffer.db")


def test_the_receipt_api_shows_ofd_confirmed_at_null_until_the_ofd_has_it(tmp_path: Path) -> None:
    """Over real HTTP (``ofd.mode = device``): a receipt answered 201 ``fiscalized`` reads back with
    ``ofd_confirmed_at`` null, and, once the KKT's queue is empty, with a time in both GET and the list."""
    with make_emulator(tmp_path, DEVICE) as emu:
        settings = settings_for({DEVICE: emu.link_path}, tmp_path / "buffer.db")
        settings = settings.model_copy(update={"ofd": OfdSettings(mode=OfdMode.DEVICE)})
        with serve(build(settings)) as url:
            body = sale(1990, "pos-1").model_dump(mode="json", exclude_none=True)
            answer = httpx.post(f"{url}/v1/receipts?wait=10", json=body, timeout=15)
            assert answer.status_code == 201, answer.text
            assert answer.json()["ofd_confirmed_at"] is None
            assert httpx.get(f"{url}/v1/receipts/pos-1").json()["ofd_confirmed_at"] is None
            emu.ofd_ack()
            deadline = time.monotonic() + 10
            while (stamp := httpx.get(f"{url}/v1/receipts/pos-1").json()["ofd_confirmed_at"]) is None:
                assert time.monotonic() < deadline, "ofd_confirmed_at never set"
                time.sleep(0.05)
            [listed] = httpx.get(f"{url}/v1/receipts").json()["items"]
            assert listed["ofd_confirmed_at"] == stamp
            assert listed["state"] == "fiscalized"
            schema = httpx.get(f"{url}/openapi.json").json()["components"]["schemas"]["ReceiptOut"]
            assert "ofd_confirmed_at" in schema["properties"]
