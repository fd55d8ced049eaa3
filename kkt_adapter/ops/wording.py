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


def documents(n: int) -> str:
    """``n`` documents: "1 документ", "3 документа", "21 документ", "142 документа", "5 документов"."""
    return plural(n, "документ", "документа", "документов")


def days(n: int) -> str:
    """``n`` days: "1 день", "3 дня", "21 день", "27 дней"."""
    return plural(n, "день", "дня", "дней")


def agree(n: int, one: str, many: str) -> str:
    """The word agreeing with ``n`` as a subject: ``one`` for 1, 21, 101 … (not 11), else ``many``
    ("1 чек ждёт", "3 чека ждут", "21 чек ждёт")."""
    return one if n % 10 == 1 and n % 100 != 11 else many


def them(n: int) -> str:
    """The pronoun for ``n`` receipts or documents: "его" for 1, 21 …, else "их"."""
    return agree(n, "его", "их")


def duration(seconds: float) -> str:
    """A rough duration, floored to its largest unit: "40 с", "12 мин", "3 ч", "4 дня", "5 дней"."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} с"
    if s < 3600:
        return f"{s // 60} мин"
    if s < 86400:
        return f"{s // 3600} ч"
    return days(s // 86400)


def clock(moment: datetime, tz_of: datetime) -> str:
    """``moment`` as "HH:MM" in ``tz_of``'s timezone, prefixed by the date when it is another day."""
    local = moment.astimezone(tz_of.tzinfo)
    if local.date() == tz_of.date():
        return local.strftime("%H:%M")
    return local.strftime("%d.%m %H:%M")


RECEIPT_STATES_RU = {
    "accepted": "приняты, ждут печати",
    "printing": "печатаются",
    "unknown": "сверяются с ФН",
    "fiscalized": "пробиты",
    "delivered": "пробиты и выгружены в учётную систему",
    "rejected": "отклонены кассой",
    "dead": "не приняты учётной системой",
}
MODES_RU = {
    "working": "рабочий",
    "data_output": "выдача данных",
    "shift_open": "смена открыта",
    "shift_expired": "смена открыта больше 24 ч",
    "shift_closed": "смена закрыта",
    "blocked": "заблокирована",
    "wait_date": "ждёт подтверждения даты",
    "open_document": "открыт чек",
    "tech_reset": "технологическое обнуление",
    "test_run": "тестовый прогон",
    "full_report": "печать отчёта",
    "long_report": "печать длинного отчёта",
}
BREAKER_RU = {"closed": "есть", "half_open": "проверяется", "open": "нет"}
OFD_MODES_RU = {"relay": "через этот компьютер", "device": "касса сама", "off": "выключен"}


def labels_ru() -> dict[str, dict[str, str]]:
    """Russian names of receipt states, device modes, the OFD link state and the OFD exchange mode (for the
    cashier's page)."""
    return {"states": RECEIPT_STATES_RU, "modes": MODES_RU, "breaker": BREAKER_RU, "ofd_mode": OFD_MODES_RU}
