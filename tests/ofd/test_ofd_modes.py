"""The start-up check of ``ofd.mode`` against the KKT's table 21 field 2 (javapos setPrinterFDOMode: 0 host, 1 own)."""

from __future__ import annotations

import pytest

from kkt_adapter.ofd.modes import mode_conflict


@pytest.mark.parametrize(("mode", "value"), [("relay", 0), ("device", 1), ("off", 1)])
def test_agreeing_settings_say_nothing(mode: str, value: int) -> None:
    """relay with 0, device with 1, off with 1 are consistent: no line."""
    assert mode_conflict(mode, value) is None


@pytest.mark.parametrize(
    ("mode", "value", "words"),
    [
        ("relay", 1, "ofd.mode = device"),
        ("device", 0, "set ofd.mode = relay"),
        ("off", 0, "blocks after 30 days"),
        ("relay", 2, "no public source"),
        ("relay", None, "could not be read"),
    ],
)
def test_a_contradiction_is_one_clear_line(mode: str, value: int | None, words: str) -> None:
    """Each contradiction (or an unknown value) gives one line saying what to change."""
    line = mode_conflict(mode, value)
    assert line is not None
    assert "\n" not in line
    assert words in line
