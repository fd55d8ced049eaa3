"""The FF46 tax byte, the FF45 tax slots, FF4D (tag 2108) and FF0C, against the vendor's drivers.

Sources (mirror of the vendor's repositories):

* javapos ``Source/Core/src/com/shtrih/jpos/fiscalprinter/FiscalPrinterImpl.java`` ``getVatCodeShtrih`` (the
  2026 "Changed VAT rates" commits d1ebb58d…af0a237b) with ``initVatRates`` / ``VatRate.java`` giving the row
  order 20, 10, 0, без НДС, 20/120, 10/110, 5, 7, 5/105, 7/107, 22, 22/122; ``getVatCodeShtrihNano``;
  ``Doc/VatTable.txt``.
* OPOS ``Source/SmFiscalPrinter/Units/FiscalPrinterDevice.pas`` ``GetFSTaxBits`` (``1 shl (Value-1)``),
  ``FSSale2`` (FF46), ``ReceiptClose2`` (FF45 slots, the 202-byte form), ``FSWriteTLV`` (FF0C password).
* javapos ``Source/Core/src/com/shtrih/fiscalprinter/command/FSWriteOperationTLV.java`` (FF4D),
  ``TLVTags.java`` (2108 is a 1-byte list value).
"""

from __future__ import annotations

import pytest

from kkt_adapter.kkt.protocol import commands
from kkt_adapter.kkt.protocol import receipt as codec
from kkt_adapter.kkt.protocol.fields import read_u_le
from kkt_adapter.kkt.protocol.frame import encode_frame
from kkt_adapter.kkt.protocol.tax import RateNotEncodable, tax_code
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem, Vat

# javapos getVatCodeShtrih: vatId 1…12 → byte, with vatId = position in initVatRates().
JAVAPOS_VAT_ID = [
    Vat.VAT20, Vat.VAT10, Vat.VAT0, Vat.NONE, Vat.VAT120, Vat.VAT110,
    Vat.VAT5, Vat.VAT7, Vat.VAT105, Vat.VAT107, Vat.VAT22, Vat.VAT122,
]  # fmt: skip
JAVAPOS_SHTRIH_CODE = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x81, 0x82, 0x84, 0x88, 0xCB, 0xCC]
VATTABLE_TXT = {1: 1, 2: 2, 3: 4, 4: 8, 5: 16, 6: 32, 7: 129, 8: 130, 9: 132, 10: 144}  # + rows 11..63: 0xC0+row
PW = codec.Passwords(cashier=1, sysadmin=30)


def _opos_fs_tax_bits(row: int) -> int:
    return 1 << (row - 1) if row > 0 else 0


def sale(*lines: tuple[str, int, Vat], operation: str = "sell", measure: int = 0) -> ReceiptIn:
    items = [
        {"name": n, "price_kop": p, "quantity": "1", "amount_kop": p, "vat": str(v), "measure": measure}
        for n, p, v in lines
    ]
    total = sum(p for _, p, _ in lines)
    payments = [{"type": "cash", "amount_kop": total}]
    return ReceiptIn.model_validate({"operation": operation, "items": items, "payments": payments, "total_kop": total})


@pytest.mark.parametrize(("vat_id", "vat"), list(enumerate(JAVAPOS_VAT_ID, start=1)))
def test_tax_byte_is_the_javapos_2026_code_where_its_sources_agree(vat_id: int, vat: Vat) -> None:
    """Every rate whose getVatCodeShtrih byte agrees with Doc/VatTable.txt is sent as that byte."""
    javapos = JAVAPOS_SHTRIH_CODE[vat_id - 1]
    table = VATTABLE_TXT.get(vat_id, 0xC0 + vat_id)
    if javapos != table:
        with pytest.raises(RateNotEncodable):
            tax_code(vat)
    else:
        assert tax_code(vat) == javapos


@pytest.mark.parametrize("row", range(1, 7))
def test_rows_1_to_6_are_the_opos_bit_mask(row: int) -> None:
    """Rows 1–6 (20, 10, 0, без НДС, 20/120, 10/110) are OPOS GetFSTaxBits(row) = 1 shl (row-1)."""
    assert tax_code(JAVAPOS_VAT_ID[row - 1]) == _opos_fs_tax_bits(row)


def test_without_vat_is_the_mask_of_row_4_never_row_3() -> None:
    """ "без НДС" is 0x08 (row 4); the old row number 4 would be the mask of row 3 = 0 %."""
    assert tax_code(Vat.NONE) == 0x08
    assert tax_code(Vat.NONE) != _opos_fs_tax_bits(3)


def test_20_and_22_percent_have_distinct_bytes() -> None:
    """20 % is row 1 (0x01), 22 % row 11 (0xCB); 20/120 row 5 (0x10), 22/122 row 12 (0xCC)."""
    assert (tax_code(Vat.VAT20), tax_code(Vat.VAT22)) == (0x01, 0xCB)
    assert (tax_code(Vat.VAT120), tax_code(Vat.VAT122)) == (0x10, 0xCC)


def test_7_107_is_refused_with_the_reason() -> None:
    """7/107: getVatCodeShtrih says 0x88, Doc/VatTable.txt 144 (0x90): refused, the reason names both."""
    with pytest.raises(RateNotEncodable) as caught:
        tax_code(Vat.VAT107)
    assert "0x88" in caught.value.reason
    assert "0x90" in caught.value.reason


@pytest.mark.parametrize("vat", [Vat.VAT22, Vat.VAT122])
def test_22_percent_refused_on_a_shtrih_nano(vat: Vat) -> None:
    """On model 152 (ШТРИХ-NANO-Ф) getVatCodeShtrihNano (0x90/0xA0) contradicts VatTable.txt: refused."""
    with pytest.raises(RateNotEncodable):
        tax_code(vat, model=152)
    assert tax_code(Vat.VAT10, model=152) == 0x02


def test_ff46_frame_matches_the_opos_fssale2_layout() -> None:
    """FF46 for 1 × 89.90 at 22 %: pwd 1, type 1, qty 10⁶ (6 bytes), price, sum, tax FF×5, 0xCB, dept 1,
    method 4, object 1, name cp1251 — OPOS FSSale2 field order, javapos 0xCB."""
    body = codec.receipt_bodies(PW, sale(("Хлеб", 8990, Vat.VAT22)), TaxSystem.OSN).lines[0][0]
    expected = (
        "FF 46 01 00 00 00 01 40 42 0F 00 00 00 1E 23 00 00 00 1E 23 00 00 00 FF FF FF FF FF CB 01 04 01 D5 EB E5 E1"
    )
    assert body == bytes.fromhex(expected)
    assert encode_frame(body)[1] == len(body) == 36


def test_close_slots_3_and_4_carry_turnovers_not_tax() -> None:
    """0 % and без НДС lines put their turnover in slots 3 and 4 (OPOS: "Оборот по налогу 3/4")."""
    r = sale(("A", 1000, Vat.VAT0), ("B", 2500, Vat.NONE), ("C", 1100, Vat.VAT10))
    close = codec.receipt_bodies(PW, r, TaxSystem.OSN).close
    taxes = [read_u_le(close, 87 + 5 * i, 5) for i in range(6)]
    assert taxes == [0, 100, 1000, 2500, 0, 0]


def test_close_slots_1_and_5_carry_20_percent_vat() -> None:
    """A 2026 return at 20 % and 20/120: VAT 20/120 of the line in slot 1 and in slot 5."""
    r = sale(("A", 12000, Vat.VAT20), ("B", 600, Vat.VAT120), operation="sell_return")
    close = codec.receipt_bodies(PW, r, TaxSystem.OSN).close
    assert [read_u_le(close, 87 + 5 * i, 5) for i in range(6)] == [2000, 0, 0, 0, 100, 0]


def test_usn_rates_use_the_extended_202_byte_close() -> None:
    """5 %, 7 %, 5/105 lines: LEN 202, text NUL-padded to 64, slots 7–10 after it (OPOS ReceiptClose2)."""
    r = sale(("A", 10500, Vat.VAT5), ("B", 10700, Vat.VAT7), ("C", 2100, Vat.VAT105))
    close = codec.receipt_bodies(PW, r, TaxSystem.USN_INCOME).close
    assert len(close) == 202
    assert close[118:182] == b"\x00" * 64
    assert [read_u_le(close, 182 + 5 * i, 5) for i in range(4)] == [500, 700, 100, 0]


def test_no_usn_rate_keeps_the_short_close() -> None:
    """Without 5 %/7 % lines the close stays LEN 118 (no text)."""
    close = codec.receipt_bodies(PW, sale(("A", 100, Vat.VAT22)), TaxSystem.OSN).close
    assert len(close) == 118


def test_measure_goes_to_the_device_as_ff4d_tag_2108_after_its_line() -> None:
    """A line in kilograms (11) is followed by FF4D pwd 30, TLV 2108 (3C 08), length 1, value 0B."""
    lines = codec.receipt_bodies(PW, sale(("Сыр", 500, Vat.VAT22), measure=11), TaxSystem.OSN).lines
    assert lines[0][0][:2] == b"\xff\x46"
    assert lines[0][1] == bytes.fromhex("FF 4D 1E 00 00 00 3C 08 01 00 0B")


def test_pieces_send_no_ff4d() -> None:
    """Measure 0 (pieces) sends only the FF46."""
    assert len(codec.receipt_bodies(PW, sale(("A", 100, Vat.VAT22)), TaxSystem.OSN).lines[0]) == 1


def test_ff0c_uses_the_system_administrator_password() -> None:
    """FF0C carries password 30 (OPOS FSWriteTLV: GetSysPassword), TLV 1021 in cp866."""
    r = ReceiptIn.model_validate(sale(("A", 100, Vat.VAT22)).model_dump(mode="json") | {"cashier": {"name": "Ян"}})
    tags = codec.receipt_bodies(PW, r, TaxSystem.OSN).tags
    assert tags == [bytes.fromhex("FF 0C 1E 00 00 00 FD 03 02 00") + "Ян".encode("cp866")]


def test_a_name_outside_cp1251_is_never_sent_with_a_question_mark() -> None:
    """The codec refuses a name it cannot encode (intake refuses it first, with 422)."""
    op = commands.OperationV2(1, 10**6, 100, None, None, 0xCB, 1, 4, 1, "Ǆ")
    with pytest.raises(commands.ProtocolError):
        commands.operation_v2(1, op)


@pytest.mark.parametrize("model", [16, 20, 21, 45, 46, 19])
def test_cash_core_and_mobile_get_the_measure_before_the_line(model: int) -> None:
    """javapos getCapOperationTagsFirst (isCashCore: 16, 20, 21, 45, 46; isShtrihMobile: 19): FF4D, then FF46."""
    lines = codec.receipt_bodies(PW, sale(("Сыр", 500, Vat.VAT22), measure=11), TaxSystem.OSN, model).lines
    assert [body[:2] for body in lines[0]] == [b"\xff\x4d", b"\xff\x46"]
