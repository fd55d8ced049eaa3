"""An FN replaced under a receipt of unknown outcome: the receipt is parked for an operator, the queue goes on
on the new FN. The real driver, the emulator on a pty with its control API over HTTP, a real SQLite buffer."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from pipeline_app import ADMIN_TOKEN, build, serve
from pipeline_rig import FAST, all_in, fast_driver, make_emulator, receipt_docs, sale, settings_for, wait_until

from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.buffer.store import Store
from kkt_adapter.emulator.control import ControlServer
from kkt_adapter.emulator.emulator import Emulator
from kkt_adapter.kkt.driver import ShtrihDriver
from kkt_adapter.ops.checks_device import check_devices
from kkt_adapter.ops.problem import DEFAULT_LIMITS, Severity
from kkt_adapter.ops.snapshot import Snapshot
from kkt_adapter.pipeline import cli_device
from kkt_adapter.pipeline.commands import Action, ActionRefused
from kkt_adapter.pipeline.service import Pipeline
from kkt_adapter.receipts.model import TaxSystem

OLD_SUM, NEW_SUM = 2500, 1100
T = TypeVar("T")
FISCALIZED = frozenset({ReceiptState.FISCALIZED})


@dataclass
class Replaced:
    """The scenario after the restart on the new FN: the running pipeline, its buffer, the emulator and
    what FN A held (its serial, the FD and sign of c1 when it was signed there)."""

    pipeline: Pipeline
    store: Store
    emu: Emulator
    old_fn: str
    new_fn: str
    old_fd: int | None
    old_sign: int | None


async def _start(store: Store, emu: Emulator, tmp_path: Path) -> Pipeline:
    settings = settings_for({"kkt1": emu.link_path}, tmp_path / "buffer.db")
    pipeline = Pipeline(settings, store, driver_factory=fast_driver)
    await pipeline.start()
    return pipeline


async def _intent_on_fn_a(store: Store, emu: Emulator, signed: bool) -> tuple[int | None, int | None]:
    """c1's intent recorded on FN A (as the worker does), signed there or not, then the shift closed."""
    await store.insert_receipt("c1", sale(OLD_SUM, "c1"), "kkt1", TaxSystem.OSN)
    driver = ShtrihDriver(str(emu.link_path), policy=FAST)
    try:
        driver.connect()
        driver.open_shift()
        fn = driver.fn_status()
        await store.begin_printing("c1", fn.last_fd_number, fn.fn_serial)
        result = driver.fiscalize(sale(OLD_SUM, "c1"), TaxSystem.OSN) if signed else None
        driver.z_report()
    finally:
        driver.close()
    return (None, None) if result is None else (result.fd_number, result.fiscal_sign)


def _run(tmp_path: Path, steps: Callable[[Replaced], Awaitable[T]], signed_on_a: bool = False) -> T:
    """Run on FN A (the daemon sees it), stop; c1 left ``printing`` on A; the technician replaces the FN
    (control API); n1 arrives; restart; ``steps`` once n1 is fiscalized."""

    async def scenario() -> T:
        with make_emulator(tmp_path, "kkt1") as emu:
            control = ControlServer(emu).start()
            store = await Store.open(tmp_path / "buffer.db", min_free_bytes=0)
            try:
                old_fn = emu.snapshot()["fn"]["serial"]
                pipeline = await _start(store, emu, tmp_path)
                cache = pipeline.workers["kkt1"].ctx.cache
                await wait_until(lambda: _true(cache.fn_serial == old_fn), 10, "the daemon saw FN A")
                await pipeline.stop()
                old_fd, old_sign = await _intent_on_fn_a(store, emu, signed_on_a)
                async with httpx.AsyncClient(base_url=control.url) as client:
                    answer = (await client.post("/fn/replace", json={})).json()
                await store.insert_receipt("n1", sale(NEW_SUM, "n1"), "kkt1", TaxSystem.OSN)
                pipeline = await _start(store, emu, tmp_path)
                try:
                    await wait_until(lambda: all_in(store, ["n1"], FISCALIZED), 15, "n1 printed on FN B")
                    replaced = Replaced(pipeline, store, emu, old_fn, answer["fn_serial"], old_fd, old_sign)
                    return await steps(replaced)
                finally:
                    await pipeline.stop()
            finally:
                await store.close()
                control.stop()

    return asyncio.run(scenario())


async def _true(value: bool) -> bool:
    return value


async def _state(store: Store, key: str) -> Any:
    row = await store.get(key)
    assert row is not None
    return row


def test_new_receipts_print_on_the_new_fn_while_the_old_one_waits(tmp_path: Path) -> None:
    """After the replacement n1 prints on FN B, c1 stays ``unknown`` (parked, never re-sent), no halt."""

    async def steps(r: Replaced) -> tuple[Any, Any, dict[str, str], bool, list[int | None]]:
        n1, c1 = await _state(r.store, "n1"), await _state(r.store, "c1")
        cache = r.pipeline.workers["kkt1"].ctx.cache
        return n1, c1, dict(cache.parked), cache.queue_halted, [d.sum_kop for d in receipt_docs(r.emu)]

    n1, c1, parked, halted, sums_on_b = _run(tmp_path, steps)
    assert n1.fn_serial != c1.intent_fn_serial
    assert c1.state is ReceiptState.UNKNOWN
    assert parked == {"c1": c1.intent_fn_serial}
    assert not halted
    assert sums_on_b == [NEW_SUM]


def test_the_page_is_red_with_both_fn_serials_and_the_command(tmp_path: Path) -> None:
    """A critical problem names the old and new FN serials and ``device resolve``; intake is not refused."""

    async def steps(r: Replaced) -> tuple[list[Any], str | None, str, str]:
        now = datetime.now(UTC)
        snap = Snapshot(now, r.pipeline.monotonic(), devices=r.pipeline.health_devices())
        problems = [p for p in check_devices(snap, now, DEFAULT_LIMITS) if p.code == "fn_replaced_undecided"]
        return problems, r.pipeline.intake_refusal("kkt1"), r.old_fn, r.new_fn

    problems, refusal, old_fn, new_fn = _run(tmp_path, steps)
    [problem] = problems
    assert problem.severity is Severity.CRITICAL
    assert f"{old_fn} → {new_fn}" in problem.message_ru
    assert "c1" in problem.message_ru
    assert "kkt-adapter device resolve --device kkt1" in problem.action_ru
    assert refusal is None


def test_the_replacement_is_audited_once(tmp_path: Path) -> None:
    """The audit log holds one "FN replaced: old → new" event with both serials."""

    async def steps(r: Replaced) -> tuple[list[Any], str, str]:
        events = [e for e in await r.store.audit_events(100) if e.reason.startswith("FN replaced")]
        return events, r.old_fn, r.new_fn

    events, old_fn, new_fn = _run(tmp_path, steps)
    [event] = events
    assert event.reason == f"FN replaced: {old_fn} → {new_fn}"
    assert event.detail == {"device": "kkt1", "old_fn": old_fn, "new_fn": new_fn}


def test_not_printed_prints_the_parked_receipt_once_on_the_new_fn(tmp_path: Path) -> None:
    """The evidence marks c1 as on the replaced FN; ``not printed`` puts it back and it prints once on B."""

    async def steps(r: Replaced) -> tuple[dict[str, Any], Any, list[int | None], dict[str, str]]:
        evidence = await r.pipeline.command("kkt1", Action.RESOLVE_EVIDENCE, "admin", 30)
        c1 = await _state(r.store, "c1")
        await r.pipeline.command("kkt1", Action.RESOLVE, "admin", 30, {"seq": c1.seq, "fd_number": 0})
        await wait_until(lambda: all_in(r.store, ["c1"], FISCALIZED), 15, "c1 printed on FN B")
        await asyncio.sleep(0.3)  # a second print would come now
        parked = dict(r.pipeline.workers["kkt1"].ctx.cache.parked)
        return evidence, await _state(r.store, "c1"), [d.sum_kop for d in receipt_docs(r.emu)], parked

    evidence, c1, sums_on_b, parked = _run(tmp_path, steps)
    [row] = evidence["receipts"]
    assert (row["key"], row["on_replaced_fn"]) == ("c1", True)
    assert c1.state is ReceiptState.FISCALIZED
    assert c1.fn_serial == evidence["fn_serial"]
    assert sorted(s or 0 for s in sums_on_b) == sorted([NEW_SUM, OLD_SUM])
    assert parked == {}


def test_fiscalized_on_the_old_fn_needs_its_fiscal_sign_and_records_fn_a(tmp_path: Path) -> None:
    """``fiscalized FD`` for a parked receipt is refused without the fiscal sign; with it, FN A's FD is recorded."""

    async def steps(r: Replaced) -> tuple[str, Any, Replaced]:
        c1 = await _state(r.store, "c1")
        params = {"seq": c1.seq, "fd_number": r.old_fd or 0}
        with pytest.raises(ActionRefused) as refused:
            await r.pipeline.command("kkt1", Action.RESOLVE, "admin", 30, params)
        await r.pipeline.command("kkt1", Action.RESOLVE, "admin", 30, {**params, "fiscal_sign": r.old_sign or 0})
        return str(refused.value), await _state(r.store, "c1"), r

    refused, c1, r = _run(tmp_path, steps, signed_on_a=True)
    assert "fiscal sign" in refused
    assert c1.state is ReceiptState.FISCALIZED
    assert (c1.fn_serial, c1.fd_number, c1.fiscal_sign) == (r.old_fn, r.old_fd, r.old_sign)
    assert [d.sum_kop for d in receipt_docs(r.emu)] == [NEW_SUM]


def _receipt_state(url: str, key: str) -> str:
    return str(httpx.get(f"{url}/v1/receipts/{key}").json()["state"])


def _wait_state(url: str, key: str, state: str) -> None:
    deadline = time.monotonic() + 15
    while _receipt_state(url, key) != state:
        assert time.monotonic() < deadline, f"{key} never became {state}"
        time.sleep(0.05)


def test_the_device_resolve_cli_not_printed_prints_it_once_on_the_new_fn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the daemon's HTTP route: ``device resolve`` lists c1 on the replaced FN; ``--not-printed``
    makes it print once on FN B."""
    monkeypatch.setenv("KKT_ADAPTER_ADMIN_TOKEN", ADMIN_TOKEN)
    with make_emulator(tmp_path, "kkt1") as emu:
        settings = settings_for({"kkt1": emu.link_path}, tmp_path / "buffer.db")
        with serve(build(settings)) as url:  # the daemon sees FN A
            deadline = time.monotonic() + 10
            while httpx.get(f"{url}/v1/devices").json()["devices"][0]["fn_serial"] is None:
                assert time.monotonic() < deadline, "device never identified"
                time.sleep(0.05)

        async def prepare() -> None:
            store = await Store.open(tmp_path / "buffer.db", min_free_bytes=0)
            try:
                await _intent_on_fn_a(store, emu, signed=False)
                await store.insert_receipt("n1", sale(NEW_SUM, "n1"), "kkt1", TaxSystem.OSN)
            finally:
                await store.close()

        asyncio.run(prepare())
        new_fn = emu.replace_fn()
        with serve(build(settings)) as url:
            _wait_state(url, "n1", "fiscalized")
            capsys.readouterr()
            assert cli_device.main(["resolve", "--url", url, "--device", "kkt1"]) == 0
            evidence = json.loads(capsys.readouterr().out)
            decided = ["resolve", "--url", url, "--device", "kkt1", "--key", "c1", "--not-printed"]
            assert cli_device.main(decided) == 0
            _wait_state(url, "c1", "fiscalized")
            time.sleep(0.3)  # a second print would come now
    assert [(r["key"], r["on_replaced_fn"]) for r in evidence["receipts"]] == [("c1", True)]
    assert evidence["fn_serial"] == new_fn
    assert sorted(d.sum_kop or 0 for d in receipt_docs(emu)) == sorted([NEW_SUM, OLD_SUM])
