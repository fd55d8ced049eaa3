"""Pure helpers that turn numbers into short Russian phrases for the cashier."""

from __future__ import annotations

from datetime import datetime


def plural(n: int, one: str, few: str, many: str) -> str:
    """``n`` with the Russian plural form: ``plural(1, "чек", "чека", "чеков")`` → ``"1 чек"``."""
    tail = abs(n) % 100
    if 11 <= tail <= 14:
        word = many
    elif tail % 10 == 1:
        word = one
    elif 2 <= tail % 10 <= 4:
        word = few
    else:
        word = many
    return f"{n} {word}"


def receipts(n: int) -> str:
    """``n`` receipts: "1 чек", "3 чека", "142 чека", "5 чеков"."""
    return plural(n, "чек", "чека", "чеков")


def duration(seconds: float) -> str:
    """A rough duration, floored to its largest unit: "40 с", "12 мин", "3 ч", "4 дн."."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} с"
    if s < 3600:
        return f"{s // 60} мин"
    if s < 86400:
        return f"{s // 3600} ч"
    return f"{s // 86400} дн."


def clock(moment: datetime, tz_of: datetime) -> str:
    """``moment`` as "HH:MM" in ``tz_of``'s timezone, prefixed by the date when it is another day."""
    local = moment.astimezone(tz_of.tzinfo)
    if local.date() == tz_of.date():
        return local.strftime("%H:%M")
    return local.strftime("%d.%m %H:%M")
