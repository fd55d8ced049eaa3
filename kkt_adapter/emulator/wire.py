"""Request parsing and error codes shared by the emulator's command handlers.

Error codes are the real Shtrih-M ones (ПротоколККТ 2.0; the pyshtrih ``excepts`` table). On FN-era
devices codes 01h–20h carry the FN meaning (0x08 no data, 0x14/0x15 the OFD backlog block).
"""

from __future__ import annotations

from enum import Enum

from kkt_adapter.emulator.layout import NOT_GIVEN

FN_BAD_FORMAT = 0x01
FN_WRONG_STATE = 0x02
FN_NO_DATA = 0x08
E_BAD_PARAMS = 0x33
E_NOT_SUPPORTED = 0x37
E_SHIFT_NOT_OPEN = 0x3D
E_PAYMENT_LESS = 0x45  # "Сумма всех типов оплаты меньше итога чека"
E_NO_CASH = 0x46  # "Не хватает наличности в кассе"
E_WRONG_RECEIPT_TYPE = 0x49
E_RECEIPT_OPEN = 0x4A
E_NONCASH_OVER = 0x4D  # "Вносимая безналичной оплатой сумма больше суммы чека"
E_SHIFT_24H = 0x4E
E_PASSWORD = 0x4F
E_BUSY = 0x50
E_RECEIPT_CLOSED = 0x55
E_WAIT_CONTINUE = 0x58
E_NO_PAPER = 0x6B
E_MODE = 0x73
E_DATE_MISMATCH = 0x7C  # "Не совпадает дата" (23h with another date than 22h)


class CommandError(Exception):
    """A handler refuses the command with Shtrih error ``code`` (answer: command code + error)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"error 0x{code:02X}")
        self.code = code


class Access(Enum):
    """Which passwords a command takes: none (FCh), any operator 1–30, X report 28–30, admin 29–30,
    the system administrator only (30: clock commands 21h–23h, ПротоколККТ 2.0)."""

    NONE = "none"
    OPERATOR = "operator"
    SENIOR = "senior"
    ADMIN = "admin"
    SYSADMIN = "sysadmin"

    def allows(self, password: int) -> bool:
        """True when ``password`` (the default password of an operator = its number) is accepted."""
        low = {Access.NONE: 0, Access.OPERATOR: 1, Access.SENIOR: 28, Access.ADMIN: 29, Access.SYSADMIN: 30}[self]
        return low <= password <= 30


class Params:
    """Sequential reader of a request's parameters; a short request raises error 0x33."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, size: int) -> bytes:
        """The next ``size`` bytes."""
        chunk = self._data[self._pos : self._pos + size]
        if len(chunk) != size:
            raise CommandError(E_BAD_PARAMS)
        self._pos += size
        return chunk

    def uint(self, size: int) -> int:
        """The next unsigned little-endian integer of ``size`` bytes."""
        return int.from_bytes(self.take(size), "little")

    def money_or_none(self) -> int | None:
        """A 5-byte money field; ``FF×5`` (not given) reads as None."""
        raw = self.take(5)
        return None if raw == NOT_GIVEN else int.from_bytes(raw, "little")

    def rest(self) -> bytes:
        """Everything not read yet (a text tail of any length, possibly empty)."""
        tail = self._data[self._pos :]
        self._pos = len(self._data)
        return tail


def decode_text(raw: bytes) -> str:
    """A cp1251 text field up to its first NUL."""
    return raw.split(b"\x00", 1)[0].decode("cp1251", errors="replace")
