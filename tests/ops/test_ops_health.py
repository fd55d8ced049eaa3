"""The health model: verdicts and Russian sentences for each condition of the snapshot."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kkt_adapter.kkt.types import Mode, SubMode
from kkt_adapter.ops.health import Severity, Verdict, can_accept_receipts, evaluate, status_line
from kkt_adapter.ops.snapshot import (
    BreakerState,
    BufferSnapshot,
    DeviceSnapshot,
    FnSnapshot,
    OfdSnapshot,
    Snapshot,
)

MSK = timezone(timedelta(hours=3))
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=MSK)
MONO = 5000.0


def fn(**kw: Any) -> FnSnapshot:
    return dataclasses.replace(FnSnapshot(serial="9999078900001234", expires_on=date(2027, 3, 1)), **kw)


def device(**kw: Any) -> DeviceSnapshot:
    base = DeviceSnapshot(
        device_id="kkt1",
        connected=True,
        mode=Mode.SHIFT_OPEN,
        sub_mode=SubMode.PAPER_OK,
        paper_present=True,
        cover_open=False,
        shift_open=True,
        shift_opened_at=NOW - timedelta(hours=2),
        heartbeat_age_s=1.0,
        fn=fn(),
    )
    return dataclasses.replace(base, **kw)


def snap(
    *, buffer: BufferSnapshot | None = None, devices: tuple[DeviceSnapshot, ...] | None = None, **kw: Any
) -> Snapshot:
    base = Snapshot(
        taken_at=NOW,
        taken_mono=MONO,
        buffer=buffer or BufferSnapshot(counts_by_state={"delivered": 10}),
        devices=(device(),) if devices is None else devices,
        ofd=OfdSnapshot(last_success_at=NOW - timedelta(minutes=1)),
        workers={"sync": MONO - 1.0, "printer:kkt1": MONO - 0.5},
    )
    return dataclasses.replace(base, **kw)


def codes(s: Snapshot) -> dict[str, Severity]:
    return {p.code: p.severity for p in evaluate(s, NOW).problems}


def sentence(s: Snapshot, code: str) -> str:
    return next(p.sentence_ru for p in evaluate(s, NOW).problems if p.code == code)


def test_healthy_snapshot_is_ok_and_ready() -> None:
    """A connected device with paper, a fresh shift and a reachable OFD gives green and readiness."""
    health = evaluate(snap(), NOW)
    assert health.verdict is Verdict.OK
    assert health.problems == ()
    assert can_accept_receipts(health) == (True, "")


def test_paper_out_is_critical_with_the_cashier_sentence() -> None:
    """No paper turns red and tells the cashier to insert a new roll."""
    s = snap(devices=(device(paper_present=False, sub_mode=SubMode.PAPER_OUT_ACTIVE),))
    assert evaluate(s, NOW).verdict is Verdict.CRITICAL
    assert sentence(s, "paper_out") == "Закончилась бумага — вставьте новый рулон"
    assert can_accept_receipts(evaluate(s, NOW))[0] is True


def test_ofd_unreachable_sentence_counts_documents_dates_the_oldest_and_days_to_block() -> None:
    """The OFD offline for 3 h with 142 documents in the FN, the oldest 3 days old, says so in one sentence."""
    unsent = fn(unsent_count=142, oldest_unsent_at=NOW - timedelta(days=3))
    s = snap(
        devices=(device(fn=unsent),),
        ofd=OfdSnapshot(BreakerState.OPEN, last_success_at=NOW - timedelta(hours=3), consecutive_failures=9),
    )
    text = sentence(s, "ofd_unreachable")
    assert text.startswith(
        "Нет связи с ОФД 3 ч; 142 документа не переданы в ОФД, самый старый от 07.03.2026; "
        "касса заблокируется через 27 дней — "
    )
    assert codes(s)["ofd_unreachable"] is Severity.WARNING


@pytest.mark.parametrize(
    ("count", "words"),
    [(1, "1 документ не передан"), (3, "3 документа не переданы"), (11, "11 документов не переданы"),
     (21, "21 документ не передан"), (25, "25 документов не переданы")],
)  # fmt: skip
def test_backlog_sentence_agrees_with_the_count(count: int, words: str) -> None:
    """The backlog sentence uses the Russian plural and agreement of the document count."""
    unsent = fn(unsent_count=count, oldest_unsent_at=NOW - timedelta(days=8))
    text = sentence(snap(devices=(device(fn=unsent),)), "ofd_backlog_old")
    assert (
        text
        == f"{words} в ОФД, самый старый от 02.03.2026; касса заблокируется через 22 дня — " + text.split(" — ", 1)[1]
    )


def test_receipts_waiting_for_the_export_are_not_the_ofd_backlog() -> None:
    """Fiscalized receipts in the buffer (the HQ export's queue) raise no OFD problem: the FN's queue is empty."""
    buffer = BufferSnapshot(counts_by_state={"fiscalized": 500}, oldest_undelivered_at=NOW - timedelta(days=10))
    found = [p for p in evaluate(snap(buffer=buffer), NOW).problems if p.component == "ofd"]
    assert found == []


@pytest.mark.parametrize(
    ("age_days", "code", "severity", "days_left"),
    [
        (2.5, None, None, None),
        (3.1, "ofd_backlog_old", Severity.WARNING, 27),
        (7.5, "ofd_backlog_old", Severity.WARNING, 23),
        (20.2, "ofd_backlog_old", Severity.CRITICAL, 10),
        (25.0, "ofd_backlog_old", Severity.CRITICAL, 5),
        (30.5, "ofd_block", Severity.CRITICAL, 0),
    ],
)
def test_unsent_age_escalates_towards_the_30_day_block(
    age_days: float, code: str | None, severity: Severity | None, days_left: int | None
) -> None:
    """The oldest unsent document's age escalates at 3/7/20/25 days and is a block at 30 days."""
    unsent = fn(unsent_count=5, oldest_unsent_at=NOW - timedelta(days=age_days))
    found = [p for p in evaluate(snap(devices=(device(fn=unsent),)), NOW).problems if p.component == "ofd"]
    if code is None:
        assert found == []
        return
    assert [(p.code, p.severity, p.details["days_left"]) for p in found] == [(code, severity, days_left)]


@given(st.floats(min_value=0, max_value=40), st.floats(min_value=0, max_value=40))
def test_backlog_severity_never_decreases_with_age(a: float, b: float) -> None:
    """An older unsent backlog is never judged less severe than a younger one."""

    def rank(age: float) -> int:
        unsent = fn(unsent_count=1, oldest_unsent_at=NOW - timedelta(days=age))
        problems = evaluate(snap(devices=(device(fn=unsent),)), NOW).problems
        return max((p.severity.rank for p in problems if p.component == "ofd"), default=-1)

    young, old = sorted((a, b))
    assert rank(young) <= rank(old)


def test_shift_near_24h_names_the_deadline_in_local_time() -> None:
    """A shift open 23 h asks to close it before the 24-hour mark, shown in ``now``'s timezone."""
    s = snap(devices=(device(shift_opened_at=NOW - timedelta(hours=23, minutes=5)),))
    assert sentence(s, "shift_near_24h") == "Смена открыта 23 ч — закройте смену до 12:55"
    assert codes(s)["shift_near_24h"] is Severity.WARNING


def test_expired_shift_is_critical() -> None:
    """A shift older than 24 h (or the device's expired-shift mode) is critical: no receipt can be printed."""
    assert codes(snap(devices=(device(shift_opened_at=NOW - timedelta(hours=25)),)))["shift_expired"] == "critical"
    assert codes(snap(devices=(device(mode=Mode.SHIFT_EXPIRED),)))["shift_expired"] == "critical"


@pytest.mark.parametrize(
    ("expires_in_days", "severity", "code"),
    [
        (60, None, None),
        (30, Severity.WARNING, "fn_expiring"),
        (3, Severity.CRITICAL, "fn_expiring"),
        (0, "critical", "fn_expired"),
    ],
)
def test_fn_expiry_countdown(expires_in_days: int, severity: Severity | None, code: str | None) -> None:
    """The FN's days to expiry warn at 30, turn critical at 3 and at expiry."""
    s = snap(devices=(device(fn=fn(expires_on=NOW.date() + timedelta(days=expires_in_days))),))
    found = {k: v for k, v in codes(s).items() if k.startswith("fn_")}
    assert found == ({} if code is None else {code: severity})


def test_fn_warning_bits_stand_in_for_an_unknown_expiry_date() -> None:
    """Without an expiry date, FN warning bit 1 warns and bit 0 is critical; bit 2 reports a full archive."""
    assert codes(snap(devices=(device(fn=fn(expires_on=None, warning_bits=0x02)),)))["fn_expiring"] == "warning"
    assert codes(snap(devices=(device(fn=fn(expires_on=None, warning_bits=0x01)),)))["fn_expiring"] == "critical"
    assert codes(snap(devices=(device(fn=fn(warning_bits=0x04)),)))["fn_memory_90"] == "warning"


def test_dlq_not_empty_degrades() -> None:
    """Dead-lettered documents degrade the verdict and ask for the administrator."""
    health = evaluate(snap(buffer=BufferSnapshot(dlq_size=2)), NOW)
    assert health.verdict is Verdict.DEGRADED
    assert health.problems[0].sentence_ru.startswith("Учётная система не приняла 2 чека — ")


@pytest.mark.parametrize(
    ("buffer", "code"),
    [
        (BufferSnapshot(writable=False, last_write_error="disk I/O error"), "buffer_not_writable"),
        (BufferSnapshot(disk_free_bytes=10 * 1024 * 1024), "disk_full"),
        (BufferSnapshot(capacity_used=1000, capacity_limit=1000), "buffer_full"),
    ],
)
def test_buffer_failures_stop_intake(buffer: BufferSnapshot, code: str) -> None:
    """A read-only buffer, a full disk or a full queue are critical and make the daemon not ready."""
    health = evaluate(snap(buffer=buffer), NOW)
    assert codes(snap(buffer=buffer))[code] is Severity.CRITICAL
    ready, reason = can_accept_receipts(health)
    assert ready is False
    assert reason


def test_low_disk_and_filling_queue_only_warn() -> None:
    """Less than the warning threshold of disk, or 80 % capacity, warns but keeps intake open."""
    s = snap(buffer=BufferSnapshot(disk_free_bytes=200 * 1024 * 1024, capacity_used=85, capacity_limit=100))
    assert codes(s) == {"disk_low": Severity.WARNING, "buffer_filling": Severity.WARNING}
    assert can_accept_receipts(evaluate(s, NOW))[0] is True


def test_disconnected_device_is_critical_but_receipts_are_still_accepted() -> None:
    """An unplugged printer is red, and the buffer still takes receipts (offline first)."""
    s = snap(devices=(device(connected=False, paper_present=False),))
    assert codes(s) == {"device_disconnected": Severity.CRITICAL}
    assert can_accept_receipts(evaluate(s, NOW))[0] is True


def test_halted_queue_and_print_backlog_are_reported() -> None:
    """A queue halted on an unknown outcome warns; receipts waiting 20 min for the printer are critical."""
    buffer = BufferSnapshot(counts_by_state={"accepted": 4}, oldest_unfiscalized_at=NOW - timedelta(minutes=20))
    found = codes(snap(buffer=buffer, devices=(device(queue_halted=True),)))
    assert found == {"queue_halted": Severity.WARNING, "print_backlog": Severity.CRITICAL}


def test_stale_worker_heartbeat_is_critical() -> None:
    """A worker whose monotonic heartbeat is older than the limit is critical; a fresh one is fine."""
    assert codes(snap(workers={"sync": MONO - 61.0})) == {"worker_stale": Severity.CRITICAL}
    assert codes(snap(workers={"sync": NOW - timedelta(seconds=5)})) == {}


def test_fn_block_stops_intake_only_when_every_fn_is_blocked() -> None:
    """One blocked FN among two devices keeps intake open; all FNs blocked closes it."""
    two = (device(fn=fn(blocked=True)), device(device_id="kkt2", fn=fn()))
    assert can_accept_receipts(evaluate(snap(devices=two), NOW))[0] is True
    both = (device(fn=fn(blocked=True)), device(device_id="kkt2", fn=fn(blocked=True)))
    assert can_accept_receipts(evaluate(snap(devices=both), NOW))[0] is False


def test_naive_datetimes_are_refused() -> None:
    """A naive datetime in a snapshot or as ``now`` raises instead of computing a wrong age."""
    with pytest.raises(ValueError, match="naive"):
        BufferSnapshot(oldest_unfiscalized_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="aware"):
        evaluate(snap(), datetime(2026, 1, 1))


_devices = st.builds(
    DeviceSnapshot,
    device_id=st.sampled_from(["a", "b"]),
    connected=st.booleans(),
    mode=st.none() | st.sampled_from(Mode),
    sub_mode=st.none() | st.sampled_from(SubMode),
    paper_present=st.none() | st.booleans(),
    cover_open=st.none() | st.booleans(),
    shift_open=st.none() | st.booleans(),
    shift_opened_at=st.none() | st.integers(0, 200).map(lambda h: NOW - timedelta(hours=h)),
    queue_halted=st.booleans(),
    last_error=st.none() | st.just("Нет бумаги"),
    fn=st.none()
    | st.builds(
        FnSnapshot,
        serial=st.just("1"),
        expires_on=st.none() | st.integers(-5, 400).map(lambda d: NOW.date() + timedelta(days=d)),
        warning_bits=st.integers(0, 15),
        unsent_count=st.integers(0, 500),
        oldest_unsent_at=st.none() | st.integers(0, 40 * 24).map(lambda h: NOW - timedelta(hours=h)),
        blocked=st.booleans(),
    ),
)
_snapshots = st.builds(
    Snapshot,
    taken_at=st.just(NOW),
    taken_mono=st.just(MONO),
    buffer=st.builds(
        BufferSnapshot,
        counts_by_state=st.dictionaries(st.sampled_from(["accepted", "fiscalized", "dead"]), st.integers(0, 99)),
        capacity_used=st.integers(0, 200),
        capacity_limit=st.integers(0, 200),
        dlq_size=st.integers(0, 3),
        disk_free_bytes=st.integers(0, 10**10),
        writable=st.booleans(),
    ),
    devices=st.lists(_devices, max_size=3).map(tuple),
    ofd=st.builds(OfdSnapshot, breaker=st.sampled_from(BreakerState), consecutive_failures=st.integers(0, 9)),
    workers=st.dictionaries(st.sampled_from(["sync", "print"]), st.floats(MONO - 200, MONO)),
)


@given(_snapshots)
def test_verdict_is_the_worst_severity_and_readiness_follows_blocking_problems(s: Snapshot) -> None:
    """For any snapshot: the verdict is the worst severity, problems are sorted, and readiness is exact."""
    health = evaluate(s, NOW)
    ranks = [p.severity.rank for p in health.problems]
    assert ranks == sorted(ranks, reverse=True)
    expected = {2: Verdict.CRITICAL, 1: Verdict.DEGRADED}.get(max(ranks, default=0), Verdict.OK)
    assert health.verdict is expected
    assert can_accept_receipts(health)[0] is not any(p.blocks_intake for p in health.problems)
    assert all(p.message_ru and p.action_ru for p in health.problems)
    assert evaluate(s, NOW) == health


def test_utc_now_is_accepted() -> None:
    """``now`` in UTC works the same as in local time (ages do not depend on the zone)."""
    assert evaluate(snap(), NOW.astimezone(UTC)).verdict is Verdict.OK


def test_status_line_is_the_verdict_and_the_worst_sentence() -> None:
    """The systemd STATUS line names the verdict, the worst problem and how many more there are."""
    assert status_line(evaluate(snap(), NOW)) == "ok"
    s = snap(buffer=BufferSnapshot(dlq_size=1), devices=(device(paper_present=False),))
    assert status_line(evaluate(s, NOW)) == "critical: Закончилась бумага — вставьте новый рулон (+1)"


@pytest.mark.parametrize(
    ("offset_s", "expected"), [(299.0, None), (-301.0, "отстают на 5 мин"), (7200.0, "спешат на 2 ч")]
)
def test_clock_disagreement_beyond_5_minutes_is_a_warning_with_its_action(
    offset_s: float, expected: str | None
) -> None:
    """Device and host clocks apart by more than the bound (default 5 min): a warning naming the set-clock command."""
    s = snap(devices=(device(clock_offset_s=offset_s, device_now=NOW + timedelta(seconds=offset_s)),))
    if expected is None:
        assert "clock_skew" not in codes(s)
        return
    assert codes(s)["clock_skew"] is Severity.WARNING
    text = sentence(s, "clock_skew")
    assert expected in text
    assert "kkt-adapter device set-clock --device kkt1" in text


def test_shift_age_is_measured_on_the_devices_clock() -> None:
    """Opened 2 h ago by the host's clock but 22 h 30 min ago by the device's: the near-24-h warning."""
    s = snap(devices=(device(device_now=NOW + timedelta(hours=20, minutes=30), clock_offset_s=73800.0),))
    assert codes(s)["shift_near_24h"] is Severity.WARNING


def test_device_error_covered_by_a_specific_problem_is_not_shown_twice() -> None:
    """Paper out with the device's last error 0x6B: the page shows "paper out" once, no generic error."""
    paper_out = device(sub_mode=SubMode.PAPER_OUT_ACTIVE, last_error="Нет чековой ленты", last_error_code=0x6B)
    found = codes(snap(devices=(paper_out,)))
    assert "paper_out" in found
    assert "device_error" not in found


def test_state_reading_without_a_code_is_covered_by_the_state_problem() -> None:
    """The worker's "paper out" wait (no device code) is covered by the paper-out problem."""
    paper_out = device(sub_mode=SubMode.PAPER_OUT_PASSIVE, last_error="Нет бумаги: вставьте новый рулон / paper out")
    assert "device_error" not in codes(snap(devices=(paper_out,)))


def test_device_error_no_specific_problem_covers_is_still_shown() -> None:
    """A refusal (0x45, payments below the total) has no specific problem: the generic one shows it."""
    refused = device(last_error="Сумма оплат меньше итога чека", last_error_code=0x45)
    assert codes(snap(devices=(refused,)))["device_error"] is Severity.INFO


def test_dead_relay_messages_are_a_warning_naming_the_command() -> None:
    """Dead or FN-refused relay messages nobody acknowledged: one warning that says the FN's queue is stuck."""
    s = snap(ofd=OfdSnapshot(last_success_at=NOW - timedelta(minutes=1), dead_messages=2))
    assert codes(s)["ofd_dead"] is Severity.WARNING
    assert sentence(s, "ofd_dead").startswith("ОФД не принял 2 документа: очередь ФН стоит — ")
    assert "kkt-adapter ofd dlq" in sentence(s, "ofd_dead")
