"""Device clock commands: set time (21h), set date (22h), confirm date (23h).

Layouts (ПротоколККТ 2.0 «Программирование времени/даты», javapos ``command/WriteTime.java``,
``SetDateCommand.java``, ``ConfirmDate.java``): the system administrator's password, then ``HH MM SS``
or ``DD MM YY``. A new date takes effect only when 23h repeats it; until then the device is in mode 6
("waiting for date confirmation") and a different date in 23h answers 7Ch "Не совпадает дата".
While a shift is open the clock cannot be set: 73h "Команда не поддерживается в данном режиме" (the
protocol's 3Ch "Смена открыта" was never issued by firmware, its Примечание 2). Setting the clock moves
the emulator's clock offset: the device clock then runs on from the value set.
"""

from __future__ import annotations

from datetime import date, datetime, time

from kkt_adapter.emulator.model import Device
from kkt_adapter.emulator.wire import E_BAD_PARAMS, E_DATE_MISMATCH, CommandError, Params


def _clock_settable(dev: Device) -> None:
    dev.need_no_receipt()
    dev.need_mode(not dev.state.shift_open)


def _move_clock(dev: Device, target: datetime) -> None:
    dev.state.clock_offset_s += (target - dev.now).total_seconds()
    dev.now = target
    dev.touch()


def _read_date(params: Params) -> date:
    day, month, year = params.take(3)
    try:
        return date(2000 + year, month, day)
    except ValueError:
        raise CommandError(E_BAD_PARAMS) from None


def set_time(dev: Device, params: Params) -> bytes:
    """21h: the clock jumps to ``HH MM SS`` of today; 33h for an impossible time."""
    hour, minute, second = params.take(3)
    try:
        target = time(hour, minute, second)
    except ValueError:
        raise CommandError(E_BAD_PARAMS) from None
    _clock_settable(dev)
    _move_clock(dev, datetime.combine(dev.now.date(), target))
    return b""


def set_date(dev: Device, params: Params) -> bytes:
    """22h: remember the date; the device waits for 23h (mode 6)."""
    value = _read_date(params)
    _clock_settable(dev)
    dev.date_pending = value
    return b""


def confirm_date(dev: Device, params: Params) -> bytes:
    """23h: with the date 22h set, the clock moves to that date (same time of day)."""
    value = _read_date(params)
    _clock_settable(dev)
    if dev.date_pending is None:
        dev.need_mode(False)
    if value != dev.date_pending:
        raise CommandError(E_DATE_MISMATCH)
    dev.date_pending = None
    _move_clock(dev, datetime.combine(value, dev.now.time()))
    return b""
