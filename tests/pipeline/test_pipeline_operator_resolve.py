"""A queue halted on an undecided receipt: the operator sees the evidence and decides; intake for a device
halted too long answers with the reason. The real driver against the emulator on a pty."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pipeline_rig import FAST, all_in, fast_driver, make_emulator, sale, settings_for, wait_until

from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.buffer.store import Store
from kkt_adapter.config.settings import ApiSettings
from kkt_adapter.kkt.driver import ShtrihDriver
from kkt_adapter.ops.checks_device import check_devices
from kkt_adapter.ops.problem import DEFAULT_LIMITS, Severity
from kkt_adapter.ops.snapshot import Snapshot
from kkt_adapter.pipeline.commands import Action, ActionRefused
from kkt_adapter.pipeline.service import Pipeline
from kkt_adapter.receipts.model import TaxSystem

MINE, OTHER = 2500, 999


async def _halted(tmp_path: Path, emu: Any) -> tuple[Store, int]:
    """``c1`` left printing after its intent; then a receipt of another sum signed by hand: undecidable."""
    store = await Store.open(tmp_path / "buffer.db", min_free_bytes=0)
    await store.insert_receipt("c1", sale(MINE, "c1"), "kkt1", TaxSystem.OSN)
    driver = ShtrihDriver(str(emu.link_path), policy=FAST)
    try:
        driver.connect()
        driver.open_shift()
        await store.begin_printing("c1", driver.fn_status().last_fd_number)
        driver.fiscalize(sale(OTHER, "by-hand"), TaxSystem.OSN)
        other_fd = driver.fn_status().last_fd_number
    finally:
        driver.close()
    return store, other_fd


def _run(tmp_path: Path, steps: Any) -> Any:
    async def scenario() -> Any:
        with make_emulator(tmp_path, "kkt1") as emu:
            store, other_fd = await _halted(tmp_path, emu)
            settings = settings_for({"kkt1": emu.link_path}, tmp_path / "buffer.db")
            settings = settings.model_copy(update={"api": ApiSettings(refuse_when_halted_s=0.0)})
            pipeline = Pipeline(settings, store, driver_factory=fast_driver)
            await pipeline.start()
            try:
                cache = pipeline.workers["kkt1"].ctx.cache
                await wait_until(lambda: _true(cache.halt_reason is not None), 10, "the queue halted, undecided")
                return await steps(pipeline, store, other_fd)
            finally:
                await pipeline.stop()
                await store.close()

    return asyncio.run(scenario())


async def _true(value: bool) -> bool:
    return value


def test_the_evidence_names_the_receipt_and_the_fn_documents(tmp_path: Path) -> None:
    """The evidence: the unresolved receipt with its intent, the FN receipt after it with its sum."""

    async def steps(pipeline: Pipeline, _store: Store, other_fd: int) -> dict[str, Any]:
        return await pipeline.command("kkt1", Action.RESOLVE_EVIDENCE, "admin", 30)

    evidence = _run(tmp_path, steps)
    assert [r["key"] for r in evidence["receipts"]] == ["c1"]
    assert evidence["halt_reason"]
    assert [(d["fd_number"], d["sum_kop"]) for d in evidence["documents"] if d["doc_type"] == 3] == [
        (evidence["fn_last_fd"], OTHER)
    ]


def test_a_halted_device_refuses_intake_and_is_red_until_decided(tmp_path: Path) -> None:
    """Halted past the configured time: intake refused with the command to run, a critical problem."""

    async def steps(pipeline: Pipeline, _store: Store, _fd: int) -> tuple[str | None, list[Any]]:
        now = datetime.now(UTC)
        snap = Snapshot(now, pipeline.monotonic(), devices=pipeline.health_devices())
        problems = [(p.code, p.severity) for p in check_devices(snap, now, DEFAULT_LIMITS)]
        return pipeline.intake_refusal("kkt1"), problems

    refusal, problems = _run(tmp_path, steps)
    assert refusal is not None
    assert "kkt-adapter device resolve kkt1" in refusal
    assert ("queue_undecided", Severity.CRITICAL) in problems


def test_an_fd_of_another_sum_is_refused_and_not_printed_prints_it_once(tmp_path: Path) -> None:
    """Claiming the by-hand receipt's FD is refused with the facts; 'not printed' prints c1 exactly once."""

    async def steps(pipeline: Pipeline, store: Store, other_fd: int) -> tuple[str, ReceiptState, str | None]:
        row = await store.get("c1")
        assert row is not None
        with pytest.raises(ActionRefused) as refused:
            await pipeline.command("kkt1", Action.RESOLVE, "admin", 30, {"seq": row.seq, "fd_number": other_fd})
        await pipeline.command("kkt1", Action.RESOLVE, "admin", 30, {"seq": row.seq, "fd_number": 0})
        await wait_until(lambda: all_in(store, ["c1"], frozenset({ReceiptState.FISCALIZED})), 10, "c1 printed")
        done = await store.get("c1")
        assert done is not None
        reasons = [e.reason for e in await store.events_of("c1")]
        return str(refused.value), done.state, next((r for r in reasons if "resolved by admin" in r), None)

    refused, state, reason = _run(tmp_path, steps)
    assert f"not a receipt of {MINE} kop" in refused
    assert state is ReceiptState.FISCALIZED
    assert reason == "resolved by admin: not printed; printing again"
