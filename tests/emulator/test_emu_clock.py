"""The emulator's clock commands 21h/22h/23h: the device clock moves to the value set, not during a shift.

Layouts: ПротоколККТ 2.0 (javapos ``Doc/SHTRIH/ПротоколККТ_2.0_11_asemenov_rev1.docx``) «Программирование
времени/даты», «Подтверждение программирования даты»; error 73h for a wrong mode, 7Ch "Не совпадает дата".
"""

from __future__ import annotations

from datetime import datetime, timedelta

from emu_helpers import T0, new_device, run


def test_set_time_moves_the_clock_offset() -> None:
    """21h 13:45:10 at device time 09:00:00 moves the clock offset by exactly the difference."""
    dev = new_device()
    assert run(dev, 0x21, bytes([13, 45, 10])) == (0, b"")
    assert T0 + timedelta(seconds=dev.state.clock_offset_s) == datetime(2026, 3, 2, 13, 45, 10)


def test_set_date_waits_for_confirmation_in_mode_6() -> None:
    """22h alone does not move the clock; the mode byte reads 6 until 23h repeats the date."""
    dev = new_device()
    assert run(dev, 0x22, bytes([1, 1, 26]))[0] == 0
    assert dev.state.clock_offset_s == 0
    assert dev.mode_byte() == 6
    assert run(dev, 0x23, bytes([1, 1, 26]))[0] == 0
    assert dev.mode_byte() == 4
    assert T0 + timedelta(seconds=dev.state.clock_offset_s) == datetime(2026, 1, 1, 9, 0)


def test_confirm_with_another_date_is_7c() -> None:
    """23h with a date other than the one 22h set answers 7Ch and keeps the clock."""
    dev = new_device()
    run(dev, 0x22, bytes([1, 1, 26]))
    assert run(dev, 0x23, bytes([2, 1, 26]))[0] == 0x7C
    assert dev.state.clock_offset_s == 0


def test_confirm_without_set_date_is_wrong_mode() -> None:
    """23h without a preceding 22h answers 73h."""
    assert run(new_device(), 0x23, bytes([1, 1, 26]))[0] == 0x73


def test_clock_commands_refused_while_a_shift_is_open() -> None:
    """With a shift open, 21h and 22h answer 73h and the clock stays."""
    dev = new_device()
    assert run(dev, 0xE0)[0] == 0
    assert run(dev, 0x21, bytes([13, 0, 0]))[0] == 0x73
    assert run(dev, 0x22, bytes([1, 1, 26]))[0] == 0x73
    assert dev.state.clock_offset_s == 0


def test_clock_commands_need_the_system_administrator() -> None:
    """21h with the administrator's password 29 answers 4Fh (the protocol names the sysadmin's, 30)."""
    assert run(new_device(), 0x21, bytes([13, 0, 0]), password=29)[0] == 0x4F


def test_impossible_time_or_date_is_bad_parameters() -> None:
    """21h 25:00:00 and 22h 31.02 answer 33h."""
    dev = new_device()
    assert run(dev, 0x21, bytes([25, 0, 0]))[0] == 0x33
    assert run(dev, 0x22, bytes([31, 2, 26]))[0] == 0x33
