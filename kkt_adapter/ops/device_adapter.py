"""Pure adapters from the KKT driver's results to the health snapshot's records.

The device reports naive local times of its own clock; the snapshot needs aware ones, so every
conversion takes the shop's timezone (``ZoneInfo(settings.ops.timezone)``) explicitly.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from kkt_adapter.kkt.errors import DeviceError, KktError
from kkt_adapter.kkt.types import DeviceStatus, ExchangeStatus, FnExpiry, FnStatus, Mode
from kkt_adapter.ops.snapshot import DeviceSnapshot, FnSnapshot

# FN errors meaning "no more fiscal signs": 0x14 resource exhausted, 0x15 the 30-day OFD limit.
FN_BLOCKING_ERRORS = frozenset({0x14, 0x15})
_SHIFT_MODES = (Mode.SHIFT_OPEN, Mode.SHIFT_EXPIRED, Mode.OPEN_DOCUMENT)


def aware(moment: datetime | None, tz: tzinfo) -> datetime | None:
    """A device's naive local time as an aware datetime in ``tz`` (aware values pass through)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=tz)


def fn_snapshot(
    status: FnStatus,
    expiry: FnExpiry | None,
    exchange: ExchangeStatus | None,
    tz: tzinfo,
    last_error_code: int | None = None,
) -> FnSnapshot:
    """The FN's record from FF01 (+ FF03 expiry, FF39 backlog); blocked when the last error says so."""
    return FnSnapshot(
        serial=status.fn_serial,
        expires_on=None if expiry is None else expiry.expires_on,
        warning_bits=status.warnings,
        unsent_count=0 if exchange is None else exchange.unsent_count,
        oldest_unsent_at=None if exchange is None else aware(exchange.first_unsent_at, tz),
        blocked=last_error_code in FN_BLOCKING_ERRORS,
    )


def device_snapshot(
    device_id: str,
    status: DeviceStatus | None,
    *,
    connected: bool,
    tz: tzinfo,
    shift_opened_at: datetime | None = None,
    last_error: KktError | None = None,
    queue_halted: bool = False,
    heartbeat_age_s: float | None = None,
    fn: FnSnapshot | None = None,
) -> DeviceSnapshot:
    """The device's record from its last short status (10h); ``status`` None means never read."""
    code = last_error.code if isinstance(last_error, DeviceError) else None
    text = (last_error.text if isinstance(last_error, DeviceError) else str(last_error)) if last_error else None
    return DeviceSnapshot(
        device_id=device_id,
        connected=connected,
        mode=None if status is None else status.mode,
        sub_mode=None if status is None else status.sub_mode,
        paper_present=None if status is None else status.paper_present,
        cover_open=None if status is None else status.cover_open,
        shift_open=None if status is None else status.mode in _SHIFT_MODES,
        shift_opened_at=aware(shift_opened_at, tz),
        open_document=status is not None and status.mode is Mode.OPEN_DOCUMENT,
        last_error=text,
        last_error_code=code,
        queue_halted=queue_halted,
        heartbeat_age_s=heartbeat_age_s,
        fn=fn,
    )
