"""Pure rules of the worker: status problems, shift deadline, backoff, intake refusal, health view."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from kkt_adapter.kkt.types import DeviceStatus, Mode, SubMode
from kkt_adapter.pipeline.cache import DeviceCache, intake_refusal, to_health
from kkt_adapter.pipeline.policy import Backoff, blocking_problem, close_due

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def status(mode: Mode = Mode.SHIFT_OPEN, sub_mode: SubMode = SubMode.PAPER_OK, cover: bool = False) -> DeviceStatus:
    return DeviceStatus(mode, 0, sub_mode, 0x0292, cover, sub_mode is SubMode.PAPER_OK)


def test_paper_out_blocks_printing() -> None:
    """Both paper-out sub-modes block a receipt; the reason names the paper."""
    for sub_mode in (SubMode.PAPER_OUT_PASSIVE, SubMode.PAPER_OUT_ACTIVE):
        problem = blocking_problem(status(sub_mode=sub_mode))
        assert problem is not None
        assert "paper" in problem


def test_open_cover_blocks_printing() -> None:
    """An open cover blocks a receipt."""
    assert "cover" in (blocking_problem(status(cover=True)) or "")


def test_states_the_worker_fixes_itself_do_not_block() -> None:
    """Open document, closed or expired shift and a normal open shift are not blocking problems."""
    for mode in (Mode.SHIFT_OPEN, Mode.SHIFT_EXPIRED, Mode.SHIFT_CLOSED, Mode.OPEN_DOCUMENT):
        assert blocking_problem(status(mode)) is None


def test_other_modes_block_printing() -> None:
    """A blocked device or one waiting for a date confirmation cannot print."""
    assert blocking_problem(status(Mode.BLOCKED)) is not None
    assert blocking_problem(status(Mode.WAIT_DATE)) is not None


def test_shift_close_is_due_before_the_24_hour_limit() -> None:
    """With 15 minutes of margin the close is due at 23 h 45 min, not a minute earlier."""
    opened = NOW - timedelta(hours=23, minutes=45)
    assert close_due(opened, NOW, 15)
    assert not close_due(opened + timedelta(minutes=1), NOW, 15)
    assert not close_due(None, NOW, 15)


def test_backoff_doubles_up_to_the_cap_and_resets() -> None:
    """Delays go 0.1, 0.2, 0.4 … up to the cap; reset starts again."""
    backoff = Backoff(0.1, 0.5)
    assert [backoff.next() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    backoff.reset()
    assert backoff.next() == 0.1


def test_disconnected_device_does_not_refuse_intake() -> None:
    """The buffer keeps receipts for a device that is away."""
    assert intake_refusal(DeviceCache("kkt1", connected=False), NOW) is None


def test_fn_block_refuses_intake_in_russian_and_english() -> None:
    """0x14/0x15 seen → a clear reason in both languages."""
    reason = intake_refusal(DeviceCache("kkt1", fn_blocked=True), NOW)
    assert reason is not None
    assert "ОФД" in reason
    assert "OFD" in reason


def test_thirty_days_of_unsent_documents_refuse_intake() -> None:
    """The oldest unsent document 30 days old refuses intake before the FN blocks; 29 days does not."""
    assert intake_refusal(DeviceCache("kkt1", oldest_unsent_at=NOW - timedelta(days=30)), NOW) is not None
    assert intake_refusal(DeviceCache("kkt1", oldest_unsent_at=NOW - timedelta(days=29)), NOW) is None


def test_expired_fn_refuses_intake() -> None:
    """An FN past its expiry date refuses; on its last day it still takes receipts."""
    assert intake_refusal(DeviceCache("kkt1", fn_expires_on=date(2026, 2, 28)), NOW) is not None
    assert intake_refusal(DeviceCache("kkt1", fn_expires_on=date(2026, 3, 1)), NOW) is None


def test_health_view_carries_the_halt_reason_and_heartbeat_age() -> None:
    """A halted queue shows its reason as the last error; the heartbeat age is measured from now."""
    cache = DeviceCache("kkt1", connected=True, queue_halted=True, halt_reason="FN doc 7 unexplained")
    cache.heartbeat_mono, cache.fn_serial = 100.0, "9999"
    snap = to_health(cache, 102.5)
    assert snap.queue_halted
    assert snap.last_error == "FN doc 7 unexplained"
    assert snap.heartbeat_age_s == 2.5
    assert snap.fn is not None
    assert snap.fn.serial == "9999"
