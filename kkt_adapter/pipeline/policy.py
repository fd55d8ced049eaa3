"""Pure rules of the print worker: what a device status forbids, shift deadlines, backoff, local time."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from kkt_adapter.kkt.types import DeviceStatus, Mode, SubMode

SHIFT_LIMIT = timedelta(hours=24)
PRINTABLE_MODES = frozenset({Mode.SHIFT_OPEN, Mode.SHIFT_EXPIRED, Mode.SHIFT_CLOSED, Mode.OPEN_DOCUMENT})


class Backoff:
    """Exponential delays ``first_s``, ×2 …, capped at ``cap_s``; :meth:`reset` starts over."""

    def __init__(self, first_s: float, cap_s: float) -> None:
        self.first_s = first_s
        self.cap_s = cap_s
        self._next_s = first_s

    def next(self) -> float:
        """The delay to wait now; the following one doubles (up to the cap)."""
        delay = self._next_s
        self._next_s = min(self.cap_s, self._next_s * 2)
        return delay

    def reset(self) -> None:
        self._next_s = self.first_s


def blocking_problem(status: DeviceStatus) -> str | None:
    """Why the device cannot print a receipt in this status (Russian / English), or None.

    An open document, a closed or expired shift and "waiting for continue printing" are not listed:
    the worker fixes those itself.
    """
    if status.sub_mode in (SubMode.PAPER_OUT_PASSIVE, SubMode.PAPER_OUT_ACTIVE):
        return "Нет бумаги: вставьте новый рулон / paper out"
    if status.cover_open:
        return "Открыта крышка принтера / printer cover open"
    if status.mode not in PRINTABLE_MODES:
        return f"Касса в режиме {status.mode.name} / device mode {status.mode.name} does not allow receipts"
    return None


def close_due(opened_at: datetime | None, now: datetime, close_before_limit_min: int) -> bool:
    """True when a shift opened at ``opened_at`` must be closed now (``close_before_limit_min`` before 24 h)."""
    if opened_at is None:
        return False
    return now >= opened_at + SHIFT_LIMIT - timedelta(minutes=close_before_limit_min)


def device_time(naive: datetime, zone: tzinfo) -> datetime:
    """A naive device/FN date-time (local time in ``zone``) as an aware datetime."""
    return naive.replace(tzinfo=zone)
