"""Helpers of the pipeline tests: receipts, a fast driver for the emulator, an in-process rig, waits."""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kkt_adapter.buffer.records import StoredReceipt
from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.buffer.store import Store
from kkt_adapter.clock import utc_now
from kkt_adapter.config.settings import BufferSettings, DeviceSettings, OpsSettings, Settings, ShiftSettings
from kkt_adapter.emulator.emulator import Emulator
from kkt_adapter.emulator.state import DeviceConfig, FnDocument
from kkt_adapter.kkt.device import KktDevice
from kkt_adapter.kkt.driver import ShtrihDriver
from kkt_adapter.kkt.link_config import LinkPolicy
from kkt_adapter.pipeline.service import Pipeline
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem

FAST = LinkPolicy(
    byte_timeout_s=0.2,
    enq_timeout_s=0.3,
    ack_timeout_s=0.3,
    write_timeout_s=1.0,
    answer_default_s=0.6,
    answer_timeouts_s={},
    busy_delay_s=0.01,
    busy_retries=5,
)
RECEIPT_TYPE_DOC = 3


def sale(total_kop: int, key: str | None = None, lines: int = 1) -> ReceiptIn:
    """A valid cash sale of ``lines`` lines summing to ``total_kop`` (kopecks)."""
    base, rest = divmod(total_kop, lines)
    amounts = [base + (rest if i == 0 else 0) for i in range(lines)]
    return ReceiptIn.model_validate(
        {
            "id": key,
            "operation": "sell",
            "items": [
                {"name": f"Товар {i + 1}", "price_kop": a, "quantity": "1", "amount_kop": a, "vat": "vat22"}
                for i, a in enumerate(amounts)
            ],
            "payments": [{"type": "cash", "amount_kop": total_kop}],
            "total_kop": total_kop,
        }
    )


def fn_serial_of(device_id: str) -> str:
    """A distinct 16-digit FN serial per device id (the buffer allows one receipt per FN document)."""
    return "99990789" + str(zlib.crc32(device_id.encode()) % 10**8).rjust(8, "0")


def make_emulator(tmp_path: Path, device_id: str) -> Emulator:
    """An emulator (not started) for ``device_id`` with its own FN serial, files in ``tmp_path``."""
    config = DeviceConfig(fn_serial=fn_serial_of(device_id))
    return Emulator(tmp_path / f"{device_id}.pty", tmp_path / f"{device_id}.json", config=config)


def fast_driver(device: DeviceSettings) -> KktDevice:
    """The real driver with short timeouts (the emulator answers at once)."""
    return ShtrihDriver(device.port, device.baudrate, policy=FAST)


def settings_for(ports: dict[str, Path], db: Path, **shift: Any) -> Settings:
    """Settings with one device per ``ports`` entry and a fast FN watch."""
    return Settings(
        devices=[DeviceSettings(id=name, port=str(path), answer_timeout_s=1.0) for name, path in ports.items()],
        buffer=BufferSettings(path=db, min_free_bytes=0),
        shift=ShiftSettings(**shift),
        ops=OpsSettings(fn_watch_interval_s=0.5, timezone="Europe/Moscow"),
    )


async def wait_until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    """Poll the async ``check`` until it is true; AssertionError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for: {what}")


async def states(store: Store, keys: Iterable[str]) -> dict[str, ReceiptState]:
    """Current state of each key."""
    out: dict[str, ReceiptState] = {}
    for key in keys:
        row = await store.get(key)
        assert row is not None, key
        out[key] = row.state
    return out


async def all_in(store: Store, keys: Iterable[str], wanted: frozenset[ReceiptState]) -> bool:
    """True when every key is in one of ``wanted``."""
    return all(state in wanted for state in (await states(store, keys)).values())


def receipt_docs(emu: Emulator) -> list[FnDocument]:
    """The emulator's FN receipt documents (type 3)."""
    return [doc for doc in emu.archive if doc.doc_type == RECEIPT_TYPE_DOC]


def check_exactly_once(fiscalized: list[StoredReceipt], emu: Emulator) -> None:
    """Every fiscalized receipt has its own FN receipt document (same FD, sum, sign) and no receipt
    document of the FN is unexplained."""
    docs = {doc.fd_number: doc for doc in receipt_docs(emu)}
    seen: set[int] = set()
    for row in fiscalized:
        assert row.fd_number is not None, row.key
        assert row.fd_number not in seen, f"FD {row.fd_number} given twice"
        seen.add(row.fd_number)
        doc = docs.get(row.fd_number)
        assert doc is not None, f"{row.key}: FD {row.fd_number} is not a receipt in the FN"
        assert doc.sum_kop == row.receipt.total_kop, row.key
        assert doc.fiscal_sign == row.fiscal_sign, row.key
        assert row.fn_serial == emu.snapshot()["fn"]["serial"], row.key
    unexplained = sorted(set(docs) - seen)
    assert not unexplained, f"FN receipt documents with no fiscalized receipt: {unexplained}"


@dataclass
class Rig:
    """A Store on a tmp SQLite file, emulators on ptys and a running Pipeline, all in this process."""

    store: Store
    pipeline: Pipeline
    emulators: dict[str, Emulator]
    fiscalized: list[float] = field(default_factory=list)

    async def post(self, key: str, receipt: ReceiptIn, device: str) -> None:
        _, created = await self.store.insert_receipt(key, receipt, device, TaxSystem.OSN)
        assert created


async def open_rig(
    tmp_path: Path, devices: Iterable[str], clock: Callable[[], datetime] = utc_now, **shift: Any
) -> Rig:
    """Start emulators (one per device id), the store and the pipeline (with ``clock``)."""
    emulators = {d: make_emulator(tmp_path, d).start() for d in devices}
    settings = settings_for({d: e.link_path for d, e in emulators.items()}, tmp_path / "buffer.db", **shift)
    store = await Store.open(tmp_path / "buffer.db", min_free_bytes=0)
    rig = Rig(store, Pipeline(settings, store, clock, driver_factory=fast_driver), emulators)
    rig.pipeline.hooks.observe_fiscalization = rig.fiscalized.append
    await rig.pipeline.start()
    return rig


async def close_rig(rig: Rig, graceful: bool = True) -> None:
    await rig.pipeline.stop(graceful=graceful, timeout_s=10)
    await rig.store.close()
    for emu in rig.emulators.values():
        emu.stop()
