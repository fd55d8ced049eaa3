"""Device error codes: text (Russian for the cashier, English for logs) and classification.

Every non-zero error byte becomes a :class:`~kkt_adapter.kkt.errors.DeviceStateError` (the device
cannot do it *now*: paper, shift, FN block, mode, busy — fix the state, then retry) or a
:class:`~kkt_adapter.kkt.errors.DeviceRejected` (the request itself is wrong: retrying the same bytes
cannot succeed). Codes 01h–20h carry the FN meaning (FN-era firmware). A code missing from the table
is classified as a *state* error: a wrong "rejected" would make the pipeline drop a sellable receipt
for good, while a wrong "state" only makes it wait for an operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from kkt_adapter.kkt.errors import DeviceError, DeviceRejected, DeviceStateError, FnOfdBlocked

OK = 0x00
FN_BAD_FORMAT = 0x01
FN_WRONG_STATE = 0x02
FN_NO_DATA = 0x08
FN_NO_TRANSPORT = 0x11
FN_STORAGE_EXHAUSTED = 0x14
FN_OFD_BACKLOG_30_DAYS = 0x15
FN_SHIFT_OVER_24H = 0x16
FN_NO_ANSWER = 0x30
BAD_PARAMS = 0x33
NOT_SUPPORTED = 0x37
RECEIPT_OPEN = 0x4A
SHIFT_OVER_24H = 0x4E
WRONG_PASSWORD = 0x4F
BUSY = 0x50
WAIT_CONTINUE = 0x58
NO_RECEIPT_PAPER = 0x6B
NO_JOURNAL_PAPER = 0x6C
WRONG_SUBMODE = 0x72
WRONG_MODE = 0x73

OFD_BACKLOG_BLOCK = frozenset({FN_STORAGE_EXHAUSTED, FN_OFD_BACKLOG_30_DAYS})
SHIFT_EXPIRED = frozenset({FN_SHIFT_OVER_24H, SHIFT_OVER_24H})
PAPER_OUT = frozenset({NO_RECEIPT_PAPER, NO_JOURNAL_PAPER})


class ErrorKind(Enum):
    """How the caller should react to a device error."""

    STATE = "state"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ErrorInfo:
    """One row of the error table."""

    code: int
    ru: str
    en: str
    kind: ErrorKind


_S = ErrorKind.STATE
_R = ErrorKind.REJECTED

_ROWS: tuple[tuple[int, ErrorKind, str, str], ...] = (
    (0x01, _R, "ФН: неизвестная команда или неверный формат", "FN: unknown command or bad format"),
    (0x02, _R, "ФН: неверное состояние ФН", "FN: wrong FN state"),
    (0x03, _S, "Ошибка ФН", "FN failure"),
    (0x04, _S, "Ошибка КС ФН", "FN crypto co-processor failure"),
    (0x05, _S, "Закончен срок эксплуатации ФН", "FN lifetime expired"),
    (0x06, _S, "Архив ФН переполнен", "FN archive full"),
    (0x07, _S, "Неверные дата и/или время", "wrong date and/or time"),
    (0x08, _R, "Нет запрошенных данных", "no requested data"),
    (0x09, _R, "Некорректное значение параметров команды ФН", "bad FN command parameters"),
    (0x10, _R, "Превышение размеров TLV данных", "TLV data too large"),
    (0x11, _S, "Нет транспортного соединения с ОФД", "no transport connection to the OFD"),
    (0x12, _S, "Исчерпан ресурс КС ФН", "FN crypto resource exhausted"),
    (0x14, _S, "Исчерпан ресурс хранения ФН (не переданы документы в ОФД)", "FN storage exhausted"),
    (0x15, _S, "Документы не передавались в ОФД более 30 дней", "oldest unsent document > 30 days"),
    (0x16, _S, "Продолжительность смены более 24 часов", "shift longer than 24 h"),
    (0x17, _S, "Неверная разница во времени между двумя операциями", "bad time between operations"),
    (0x20, _R, "Сообщение от ОФД не может быть принято", "OFD message cannot be accepted"),
    (0x30, _S, "Нет ответа от ФН", "no answer from the FN"),
    (0x33, _R, "Некорректные параметры в команде", "bad command parameters"),
    (0x34, _R, "Нет данных", "no data"),
    (0x35, _R, "Некорректный параметр при данных настройках", "parameter invalid for these settings"),
    (0x36, _R, "Некорректные параметры для данной ККТ", "parameters invalid for this model"),
    (0x37, _R, "Команда не поддерживается данной ККТ", "command not supported by this device"),
    (0x45, _R, "Сумма оплат меньше итога чека", "payments less than the receipt total"),
    (0x46, _S, "Не хватает наличности в кассе", "not enough cash in the drawer"),
    (0x4A, _S, "Открыт чек – операция невозможна", "a receipt is open"),
    (0x4B, _R, "Буфер чека переполнен", "receipt buffer overflow"),
    (0x4D, _R, "Безналичная оплата больше суммы чека", "non-cash payment exceeds the total"),
    (0x4E, _S, "Смена превысила 24 часа, закройте смену", "shift exceeded 24 h"),
    (0x4F, _R, "Неверный пароль", "wrong password"),
    (0x50, _S, "Идёт печать предыдущей команды", "still printing the previous command"),
    (0x58, _S, "Ожидание команды продолжения печати", "waiting for 'continue printing'"),
    (0x5C, _S, "Понижено напряжение питания", "supply voltage low"),
    (0x5E, _R, "Неверная операция", "wrong operation"),
    (0x6B, _S, "Нет чековой ленты", "no receipt paper"),
    (0x6C, _S, "Нет контрольной ленты", "no journal paper"),
    (0x72, _S, "Команда не поддерживается в данном подрежиме", "command not allowed in this sub-mode"),
    (0x73, _S, "Команда не поддерживается в данном режиме", "command not allowed in this mode"),
    (0x7E, _R, "Неверное значение в поле длины", "bad length field"),
)

ERROR_TABLE: dict[int, ErrorInfo] = {code: ErrorInfo(code, ru, en, kind) for code, kind, ru, en in _ROWS}


def describe(code: int) -> ErrorInfo:
    """The table row for ``code``; an unknown code is a *state* error with a generic text."""
    known = ERROR_TABLE.get(code)
    if known is not None:
        return known
    return ErrorInfo(code, f"Ошибка ККТ 0x{code:02X}", f"device error 0x{code:02X}", ErrorKind.STATE)


def device_error(command: int, code: int) -> DeviceError:
    """The exception for ``command`` answered with ``code`` (non-zero), of the class the table says."""
    info = describe(code)
    cls: type[DeviceError] = DeviceRejected if info.kind is ErrorKind.REJECTED else DeviceStateError
    if code in OFD_BACKLOG_BLOCK:
        cls = FnOfdBlocked
    return cls(command, code, f"{info.ru} ({info.en})")
