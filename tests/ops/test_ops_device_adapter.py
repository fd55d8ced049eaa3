"""Adapters from the driver's typed results to the health snapshot."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from kkt_adapter.kkt.errors import DeviceStateError, PortGone
from kkt_adapter.kkt.types import DeviceStatus, ExchangeStatus, FnExpiry, FnStatus, Mode, SubMode
from kkt_adapter.ops.device_adapter import device_snapshot, fn_snapshot
from kkt_adapter.ops.health import Problem, evaluate
from kkt_adapter.ops.snapshot import DeviceSnapshot, Snapshot

MSK = timezone(timedelta(hours=3))


def evaluate_one(dev: DeviceSnapshot, now: datetime) -> tuple[Problem, ...]:
    return evaluate(Snapshot(taken_at=now, taken_mono=0.0, devices=(dev,)), now).problems


def test_fn_snapshot_makes_device_times_aware_and_flags_the_30_day_block() -> None:
    """FF39's naive first-unsent time becomes aware in the shop's zone; error 0x15 marks the FN blocked."""
    status = FnStatus(3, 0, True, 0x02, datetime(2026, 3, 10, 12, 0), "9999078900001234", 512)
    exchange = ExchangeStatus(0, 7, 500, datetime(2026, 3, 1, 9, 30))
    fn = fn_snapshot(status, FnExpiry(date(2027, 1, 1), 11, 1), exchange, MSK, last_error_code=0x15)
    assert fn.oldest_unsent_at == datetime(2026, 3, 1, 9, 30, tzinfo=MSK)
    assert (fn.serial, fn.unsent_count, fn.warning_bits, fn.blocked) == ("9999078900001234", 7, 0x02, True)
    assert fn.expires_on == date(2027, 1, 1)


def test_device_snapshot_reads_paper_mode_and_the_last_error() -> None:
    """The short status gives mode, paper and shift; a device error gives its text and code."""
    status = DeviceStatus(Mode.SHIFT_OPEN, 0, SubMode.PAPER_OUT_ACTIVE, 0, False, False)
    dev = device_snapshot(
        "kkt1", status, connected=True, tz=MSK, last_error=DeviceStateError(0x80, 0x6B, "Нет чековой ленты")
    )
    assert (dev.mode, dev.paper_present, dev.shift_open, dev.open_document) == (Mode.SHIFT_OPEN, False, True, False)
    assert (dev.last_error, dev.last_error_code) == ("Нет чековой ленты", 0x6B)
    now = datetime(2026, 3, 10, 12, 0, tzinfo=MSK)
    assert {p.code for p in evaluate_one(dev, now)} == {"paper_out", "device_error"}


def test_never_polled_device_has_unknown_fields() -> None:
    """Before the first status, fields are unknown (None) and a link error is kept as text."""
    dev = device_snapshot("kkt1", None, connected=False, tz=MSK, last_error=PortGone("/dev/ttyUSB0 vanished"))
    assert (dev.mode, dev.paper_present, dev.shift_open) == (None, None, None)
    assert (dev.last_error, dev.last_error_code) == ("/dev/ttyUSB0 vanished", None)
