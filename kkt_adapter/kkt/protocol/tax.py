"""VAT rate (tag 1199) → the FF46 tax byte and the FF45 tax slot, and VAT sums. Sources in
``docs/kkt-encodings.md``.

**FF46 tax byte** (javapos ``Source/Core/src/com/shtrih/jpos/fiscalprinter/FiscalPrinterImpl.java``
``getVatCodeShtrih``, the vendor's 2026 "Changed VAT rates" work, and ``Doc/VatTable.txt``): rows 1–6
of the tax table are the bits 0–5 (OPOS ``FiscalPrinterDevice.pas`` ``GetFSTaxBits`` = ``1 shl (row-1)``
agrees); rows 7–9 are ``0x80`` + bit 0/1/2; rows 11–63 are ``0xC0 + row``. The table's rows, in
javapos ``VatRate``/``initVatRates`` order: 1 = 20 %, 2 = 10 %, 3 = 0 %, 4 = без НДС, 5 = 20/120,
6 = 10/110, 7 = 5 %, 8 = 7 %, 9 = 5/105, 10 = 7/107, 11 = 22 %, 12 = 22/122 (fr_drv_ng #328: "ндс 22% и
ндс 22/122 отдельными строками в таблице 6: 11 и 12").

**Refused** (the sources disagree, so nothing is sent): 7/107 (row 10: ``getVatCodeShtrih`` sends
0x88, ``Doc/VatTable.txt`` says 144 = 0x90); 22 % and 22/122 on a ШТРИХ-NANO-Ф (model 152:
``getVatCodeShtrihNano`` sends 0x90/0xA0 where ``Doc/VatTable.txt`` says ``0xC0 + row``).

**FF45 slots** (OPOS ``FiscalPrinterDevice.pas`` ``ReceiptClose2`` layout comment): 1 = VAT at 20 %,
2 = VAT at 10 %, 3 = *turnover* at 0 %, 4 = *turnover* без НДС, 5 = VAT 20/120, 6 = VAT 10/110; the
202-byte form adds 7 = VAT 5 %, 8 = 7 %, 9 = 5/105, 10 = 7/107 after a 64-byte text. 22 % and 22/122
have no slot in any source: the KKT computes them (T1П14 = 0, "налоги начисляются ККТ").
"""

from __future__ import annotations

from enum import Enum
from fractions import Fraction

from kkt_adapter.errors import AdapterError
from kkt_adapter.receipts.model import Vat

SHTRIH_NANO_MODEL = 152  # javapos PrinterConst.PRINTER_MODEL_SHTRIH_NANO_F

TAX_CODE: dict[Vat, int] = {
    Vat.VAT20: 0x01,
    Vat.VAT10: 0x02,
    Vat.VAT0: 0x04,
    Vat.NONE: 0x08,
    Vat.VAT120: 0x10,
    Vat.VAT110: 0x20,
    Vat.VAT5: 0x81,
    Vat.VAT7: 0x82,
    Vat.VAT105: 0x84,
    Vat.VAT22: 0xCB,
    Vat.VAT122: 0xCC,
}

UNSETTLED: dict[Vat, str] = {
    Vat.VAT107: (
        "НДС 7/107 не передаётся на ККТ Штрих: источники производителя расходятся (0x88 / 0x90) / "
        "VAT 7/107 is not sent to a Shtrih KKT: the vendor's sources disagree on its tax byte (0x88 vs 0x90)"
    ),
}

UNSETTLED_NANO: dict[Vat, str] = {
    vat: (
        f"{vat} не передаётся на ШТРИХ-NANO-Ф: источники производителя расходятся / "
        f"{vat} is not sent to a SHTRIH-NANO-F: the vendor's sources disagree on its tax byte"
    )
    for vat in (Vat.VAT22, Vat.VAT122)
}


class RateNotEncodable(AdapterError):
    """A VAT rate whose tax byte the vendor's sources do not settle for this device; ``reason`` says why."""

    def __init__(self, vat: Vat, reason: str) -> None:
        super().__init__(reason)
        self.vat = vat
        self.reason = reason


def tax_code(vat: Vat, model: int | None = None) -> int:
    """The FF46 tax byte of ``vat`` on a device of FCh ``model``; :class:`RateNotEncodable` where unsettled."""
    if vat in UNSETTLED:
        raise RateNotEncodable(vat, UNSETTLED[vat])
    if model == SHTRIH_NANO_MODEL and vat in UNSETTLED_NANO:
        raise RateNotEncodable(vat, UNSETTLED_NANO[vat])
    return TAX_CODE[vat]


class SlotKind(Enum):
    """What an FF45 slot carries: the VAT included, or the turnover (the lines' total)."""

    TAX = "tax"
    TURNOVER = "turnover"


FF45_SLOT: dict[Vat, tuple[int, SlotKind]] = {
    Vat.VAT20: (1, SlotKind.TAX),
    Vat.VAT10: (2, SlotKind.TAX),
    Vat.VAT0: (3, SlotKind.TURNOVER),
    Vat.NONE: (4, SlotKind.TURNOVER),
    Vat.VAT120: (5, SlotKind.TAX),
    Vat.VAT110: (6, SlotKind.TAX),
    Vat.VAT5: (7, SlotKind.TAX),
    Vat.VAT7: (8, SlotKind.TAX),
    Vat.VAT105: (9, SlotKind.TAX),
    Vat.VAT107: (10, SlotKind.TAX),
}

# Share of the line amount that is VAT ("included in the price"), per rate.
VAT_SHARE: dict[Vat, Fraction] = {
    Vat.VAT22: Fraction(22, 122),
    Vat.VAT20: Fraction(20, 120),
    Vat.VAT10: Fraction(10, 110),
    Vat.VAT0: Fraction(0),
    Vat.NONE: Fraction(0),
    Vat.VAT122: Fraction(22, 122),
    Vat.VAT120: Fraction(20, 120),
    Vat.VAT110: Fraction(10, 110),
    Vat.VAT5: Fraction(5, 105),
    Vat.VAT7: Fraction(7, 107),
    Vat.VAT105: Fraction(5, 105),
    Vat.VAT107: Fraction(7, 107),
}


def vat_kop(vat: Vat, amount_kop: int) -> int:
    """VAT included in ``amount_kop`` at ``vat``, rounded half-up to a kopeck."""
    share = VAT_SHARE[vat] * amount_kop
    return int(share + Fraction(1, 2)) if share >= 0 else -int(-share + Fraction(1, 2))


def slot_sum(vat: Vat, amount_kop: int) -> int:
    """What FF45 carries for ``amount_kop`` of lines at ``vat``: the VAT included, or the turnover."""
    _slot, kind = FF45_SLOT[vat]
    return amount_kop if kind is SlotKind.TURNOVER else vat_kop(vat, amount_kop)
