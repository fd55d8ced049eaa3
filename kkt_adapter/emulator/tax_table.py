"""The emulated device's tax table (Shtrih "таблица 6") and how an FF46 tax byte names one of its rows.

Written from the vendor's documents, not from the client: the byte layout from javapos ``Doc/VatTable.txt``
(rows 1–6 = bits 0–5; rows 7, 8, 9, 10 = 129, 130, 132, 144, i.e. ``0x80`` + bit 0, 1, 2, 4; rows 11–63 =
``0xC0 + row``), the rows' rates in javapos ``VatRate``/``FiscalPrinterImpl.initVatRates`` order (rows 11 and
12 = 22 % and 22/122: fr_drv_ng #328), the FF45 slots from OPOS ``FiscalPrinterDevice.pas`` ``ReceiptClose2``
(3 and 4 are turnovers), tag 1199 codes from the FFD tables. A byte naming no row, or more than one, or a row
beyond the rows the table holds, is refused with 33h "Некорректные параметры в команде" (no source gives
the firmware's own code for this; 33h is what firmware answers for a parameter it cannot take).

Table 17 field 71 (fr_drv_ng #328): 1 = from 2026-01-01 the firmware fiscalizes row 1 at 22 % by itself,
2 = it uses the row it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction

AUTO_22_FROM = date(2026, 1, 1)
VAT20_AUTO_22 = 1
VAT20_AS_GIVEN = 2


@dataclass(frozen=True)
class TaxRow:
    """One row: name, the VAT share of an amount, FFD tag 1199 code, FF45 slot (None: the device computes)."""

    row: int
    name: str
    share: Fraction
    tag_1199: int
    ff45_slot: int | None
    turnover: bool = False  # the FF45 slot carries the rows' turnover, not a VAT sum


ROWS: dict[int, TaxRow] = {
    r.row: r
    for r in (
        TaxRow(1, "НДС 20%", Fraction(20, 120), 1, 1),
        TaxRow(2, "НДС 10%", Fraction(10, 110), 2, 2),
        TaxRow(3, "НДС 0%", Fraction(0), 5, 3, turnover=True),
        TaxRow(4, "БЕЗ НДС", Fraction(0), 6, 4, turnover=True),
        TaxRow(5, "НДС 20/120", Fraction(20, 120), 3, 5),
        TaxRow(6, "НДС 10/110", Fraction(10, 110), 4, 6),
        TaxRow(7, "НДС 5%", Fraction(5, 105), 7, 7),
        TaxRow(8, "НДС 7%", Fraction(7, 107), 8, 8),
        TaxRow(9, "НДС 5/105", Fraction(5, 105), 9, 9),
        TaxRow(10, "НДС 7/107", Fraction(7, 107), 10, 10),
        TaxRow(11, "НДС 22%", Fraction(22, 122), 11, None),
        TaxRow(12, "НДС 22/122", Fraction(22, 122), 12, None),
    )
}

_HIGH_ROWS = {0x01: 7, 0x02: 8, 0x04: 9, 0x10: 10}  # Doc/VatTable.txt: 129, 130, 132, 144


def row_of(tax_byte: int) -> int | None:
    """The single row an FF46 tax byte names, or None (no row, or several at once)."""
    kind, low = tax_byte & 0xC0, tax_byte & 0x3F
    if kind == 0xC0:
        return low if low >= 11 else None
    if kind == 0x80:
        return _HIGH_ROWS.get(low)
    if kind or low == 0 or low & (low - 1):  # 0x40…0x7F name no row; several bits, several rows
        return None
    return low.bit_length()


def effective_row(row: int, vat20_mode: int, on: date) -> int:
    """The row the firmware fiscalizes: row 1 becomes row 11 (22 %) from 2026 when field 71 says so."""
    if row == 1 and vat20_mode == VAT20_AUTO_22 and on >= AUTO_22_FROM:
        return 11
    return row


def vat_included(row: int, amount_kop: int) -> int:
    """The VAT included in ``amount_kop`` at ``row``, rounded half-up to a kopeck."""
    share = ROWS[row].share * amount_kop
    return int(share + Fraction(1, 2))
