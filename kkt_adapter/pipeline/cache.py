"""The cached status of one device, written only by its worker, read by health and the API without I/O.

Also the pure rules on top of it: whether intake must refuse new receipts for the device
(:func:`intake_refusal`), and the health model's view (:func:`to_health`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from kkt_adapter.kkt.types import Mode, SubMode
from kkt_adapter.ops.devclock import ClockReading, device_now
from kkt_adapter.ops.snapshot import DeviceSnapshot, FnSnapshot

OFD_BLOCK_AFTER = timedelta(days=30)


@dataclass
class DeviceCache:
    """What the worker last saw of its device. Datetimes are aware; ``heartbeat_mono`` is ``time.monotonic()``.

    ``queue_halted``: a receipt's outcome is unknown and the queue waits until the FN resolves it
    (``halt_reason`` says why it is not decided yet). ``fn_blocked``: the FN refused a fiscal
    document with 0x14/0x15, or the FN watch found its oldest unsent document 30 days old on the
    device's clock (cleared when the backlog is below 30 days again). ``clock``: the device's date/time
    as last read (every FN watch); ``shift_opened_at``, ``oldest_unsent_at`` and ``fn_expires_on`` are
    device times, compared only with the device's time (:meth:`device_now`).
    """

    device_id: str
    connected: bool = False
    model_name: str | None = None
    mode: Mode | None = None
    sub_mode: SubMode | None = None
    paper_present: bool | None = None
    cover_open: bool | None = None
    shift_open: bool | None = None
    shift_number: int | None = None
    shift_opened_at: datetime | None = None
    open_document: bool = False
    last_error_code: int | None = None
    last_error: str | None = None
    queue_halted: bool = False
    halt_reason: str | None = None
    halted_since: datetime | None = None  # host time the automatic resolution gave up (an operator decides)
    parked: dict[str, str] = field(default_factory=dict)  # receipt key → FN its intent was on (FN replaced)
    fn_serial: str | None = None
    registration_number: str | None = None
    fn_expires_on: date | None = None
    fn_warnings: int = 0
    unsent_count: int = 0
    oldest_unsent_at: datetime | None = None
    fn_blocked: bool = False
    fn_checked_at: datetime | None = None
    heartbeat_mono: float | None = None
    clock: ClockReading | None = None
    latest_document_at: datetime | None = None

    def device_now(self, now_mono: float, host_now: datetime) -> datetime:
        """The device's time at monotonic ``now_mono`` (``host_now`` until the device's clock was read), not
        before the latest document it signed."""
        return device_now(self.clock, now_mono, host_now, self.latest_document_at)

    def saw_document(self, at: datetime) -> None:
        """The device signed a document dated ``at`` (device time): its clock is at least there."""
        if self.latest_document_at is None or at > self.latest_document_at:
            self.latest_document_at = at

    def copy(self) -> DeviceCache:
        """An independent copy (the worker keeps mutating its own)."""
        return replace(self, parked=dict(self.parked))

    def as_json(self) -> dict[str, object]:
        """JSON-ready fields for ``GET /v1/devices``."""
        out: dict[str, object] = {}
        for name, value in vars(self).items():
            if isinstance(value, Mode | SubMode):
                out[name] = value.name.lower()
            elif isinstance(value, datetime | date):
                out[name] = value.isoformat()
            elif isinstance(value, ClockReading):
                out["device_clock_at"] = value.device_at.isoformat()
                out["clock_offset_s"] = round(value.offset_s, 1)
            else:
                out[name] = value
        return out


def intake_refusal(cache: DeviceCache, now: datetime) -> str | None:
    """Why new receipts for this device must be refused now (Russian, then English), or None.

    ``now`` is the *device's* time (:meth:`DeviceCache.device_now`): the FN decides its block and its
    expiry on its own clock.

    Refuses only when the device provably cannot fiscalize for a long time: the FN's 30-day OFD block
    (seen as error 0x14/0x15, or the oldest unsent document is 30 days old) or an expired FN. A
    disconnected device does not refuse: the buffer keeps receipts until it is back.
    """
    if cache.fn_blocked or is_ofd_blocked(cache.oldest_unsent_at, now):
        return (
            f"ФН кассы {cache.device_id} заблокирован: документы не передавались в ОФД 30 дней; "
            "восстановите связь с ОФД. / The FN is blocked: documents were not sent to the OFD for 30 days."
        )
    if cache.fn_expires_on is not None and now.date() > cache.fn_expires_on:
        return (
            f"Срок действия ФН кассы {cache.device_id} истёк {cache.fn_expires_on.isoformat()}; замените ФН. "
            "/ The FN has expired; replace it."
        )
    return None


def halted_refusal(cache: DeviceCache, host_now: datetime, refuse_after_s: float) -> str | None:
    """Why new receipts for a device halted (undecided) for ``refuse_after_s`` or longer are refused, or None."""
    if cache.halted_since is None or (host_now - cache.halted_since).total_seconds() < refuse_after_s:
        return None
    return (
        f"Касса {cache.device_id} остановлена: не ясно, прошёл ли чек ({cache.halt_reason}); администратор должен "
        f"решить: kkt-adapter device resolve {cache.device_id}. / The device's queue is halted: an operator must "
        "decide the unresolved receipt first."
    )


def is_ofd_blocked(oldest_unsent_at: datetime | None, now: datetime) -> bool:
    """True when the oldest unsent document is at least 30 days old."""
    return oldest_unsent_at is not None and now - oldest_unsent_at >= OFD_BLOCK_AFTER


def to_health(cache: DeviceCache, now_mono: float) -> DeviceSnapshot:
    """The health model's snapshot of ``cache`` at monotonic time ``now_mono``."""
    fn = None
    if cache.fn_serial is not None:
        fn = FnSnapshot(
            serial=cache.fn_serial,
            expires_on=cache.fn_expires_on,
            warning_bits=cache.fn_warnings,
            unsent_count=cache.unsent_count,
            oldest_unsent_at=cache.oldest_unsent_at,
            blocked=cache.fn_blocked,
        )
    reading = cache.clock
    age = None if cache.heartbeat_mono is None else max(0.0, now_mono - cache.heartbeat_mono)
    last_error = cache.halt_reason if cache.queue_halted and cache.halt_reason else cache.last_error
    return DeviceSnapshot(
        device_id=cache.device_id,
        connected=cache.connected,
        mode=cache.mode,
        sub_mode=cache.sub_mode,
        paper_present=cache.paper_present,
        cover_open=cache.cover_open,
        shift_open=cache.shift_open,
        shift_opened_at=cache.shift_opened_at,
        open_document=cache.open_document,
        last_error=last_error,
        last_error_code=cache.last_error_code,
        queue_halted=cache.queue_halted,
        halt_reason=cache.halt_reason if cache.halted_since is not None else None,
        parked=tuple(sorted(cache.parked.items())),
        heartbeat_age_s=age,
        fn=fn,
        device_now=None
        if reading is None
        else device_now(reading, now_mono, reading.host_at, cache.latest_document_at),
        clock_offset_s=None if reading is None else reading.offset_s,
    )
