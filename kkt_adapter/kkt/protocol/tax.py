"""VAT rate (tag 1199) ↔ the FF46 ``taxRate`` byte, and VAT sums per rate.

Shtrih firmware addresses VAT by the row of its tax table: 1 = the general rate, 2 = 10 %, 3 = 0 %,
4 = without VAT, 5 = general fraction, 6 = 10/110. The general rate is 20 % until 2025 and 22 % from
2026-01-01 (the dealer re-programs row 1); firmware of 2025 adds rows 7–10 for the USN rates 5 %, 7 %,
5/105, 7/107. The receipt's validation (:mod:`kkt_adapter.receipts.rules`) already allows only the rate
in force, so mapping 20 % and 22 % to the same row is safe.
"""

from __future__ import annotations

from fractions import Fraction

from kkt_adapter.receipts.model import Vat

TAX_RATE_BYTE: dict[Vat, int] = {
    Vat.VAT22: 1,
    Vat.VAT20: 1,
    Vat.VAT10: 2,
    Vat.VAT0: 3,
    Vat.NONE: 4,
    Vat.VAT122: 5,
    Vat.VAT120: 5,
    Vat.VAT110: 6,
    Vat.VAT5: 7,
    Vat.VAT7: 8,
    Vat.VAT105: 9,
    Vat.VAT107: 10,
}

VALID_TAX_BYTES = frozenset(TAX_RATE_BYTE.values())

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
