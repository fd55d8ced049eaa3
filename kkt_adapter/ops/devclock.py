"""The device's clock as the law's clock: pure rules, the readings passed in.

The KKT and its FN decide the 24-hour shift limit, the 30-day OFD block and the FN's expiry on their
own clock, so every legal clock of the adapter is computed on device time, never on the host's:

- a :class:`ClockReading` is the device's date/time (11h) read together with the host's wall clock and
  ``time.monotonic()`` at the same moment;
- the device's time *now* is extrapolated from the last reading on the monotonic clock
  (:func:`device_now`), so a host clock that jumps (a box booting in 1970 before NTP, then NTP setting
  it) never moves a legal deadline;
- a device deadline is shown in host time through the measured offset (:func:`to_host`), which is
  also what the clock-disagreement problem compares with its bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ClockReading:
    """The device's time ``device_at`` (aware) read when the host's wall clock said ``host_at`` (aware)
    and its monotonic clock ``mono`` (seconds)."""

    device_at: datetime
    host_at: datetime
    mono: float

    def __post_init__(self) -> None:
        for value in (self.device_at, self.host_at):
            if value.utcoffset() is None:
                raise ValueError(f"ClockReading: naive datetime {value.isoformat()}; use an aware one")

    @property
    def offset_s(self) -> float:
        """Device clock minus host clock, in seconds (positive: the device is ahead)."""
        return (self.device_at - self.host_at).total_seconds()


def device_now(
    reading: ClockReading | None, now_mono: float, host_now: datetime, floor: datetime | None = None
) -> datetime:
    """The device's time at monotonic ``now_mono``: the reading moved on by the monotonic time since, and
    never earlier than ``floor`` (the latest document the device signed: its clock was at least there,
    even if it was moved after the last reading).

    Without a reading (never read), the host's ``host_now`` stands in (still not before ``floor``).
    """
    moved = host_now if reading is None else reading.device_at + timedelta(seconds=now_mono - reading.mono)
    return moved if floor is None or moved >= floor else floor


def to_host(device_moment: datetime, reading: ClockReading | None) -> datetime:
    """A moment of the device's clock in the host's clock (through the measured offset)."""
    if reading is None:
        return device_moment
    return device_moment - timedelta(seconds=reading.offset_s)


def skew_s(reading: ClockReading | None) -> float | None:
    """How far the device's clock is from the host's (absolute seconds), or None when not read."""
    return None if reading is None else abs(reading.offset_s)
