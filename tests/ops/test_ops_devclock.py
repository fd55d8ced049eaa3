"""The device's clock rules: extrapolation on the monotonic clock, host conversion, skew."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kkt_adapter.ops.devclock import ClockReading, device_now, skew_s, to_host

DEVICE = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
HOST_1970 = datetime(1970, 1, 1, 0, 5, tzinfo=UTC)


def test_device_now_moves_on_with_the_monotonic_clock_not_the_host_wall() -> None:
    """90 monotonic seconds after the reading the device's time is 90 s later, whatever the host wall says."""
    reading = ClockReading(DEVICE, HOST_1970, mono=1000.0)
    assert device_now(reading, 1090.0, datetime(2030, 1, 1, tzinfo=UTC)) == DEVICE + timedelta(seconds=90)


def test_device_now_without_a_reading_is_the_hosts() -> None:
    """Never read: the host's time stands in."""
    assert device_now(None, 5.0, HOST_1970) == HOST_1970


def test_a_device_deadline_in_host_time_goes_through_the_offset() -> None:
    """Device 2 h ahead: its 14:00 is the host's 12:00."""
    reading = ClockReading(DEVICE + timedelta(hours=2), DEVICE, mono=0.0)
    assert to_host(DEVICE + timedelta(hours=2), reading) == DEVICE
    assert skew_s(reading) == 7200.0


def test_a_naive_reading_is_refused() -> None:
    """A naive device time would shift every age by the UTC offset: refused at construction."""
    with pytest.raises(ValueError, match="naive"):
        ClockReading(DEVICE.replace(tzinfo=None), DEVICE, 0.0)


def test_device_now_is_never_before_the_latest_document_it_signed() -> None:
    """The device's clock moved on after the last reading: a document dated later lifts the device's time."""
    reading = ClockReading(DEVICE, DEVICE, mono=0.0)
    signed = DEVICE + timedelta(days=1)
    assert device_now(reading, 10.0, DEVICE, floor=signed) == signed
    assert device_now(reading, 10.0, DEVICE, floor=DEVICE - timedelta(days=1)) == DEVICE + timedelta(seconds=10)
