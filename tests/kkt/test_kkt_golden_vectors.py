"""Golden vectors: our request bytes and our decoding of answers against bytes from the vendor.

Each case names its source. "javapos test" = a byte array in ``shtrih-m/javapos_shtrih``
``Source/FiscalPrinterService/test/...``; "fr_drv_ng #N" = a frame logged by a real device in that issue;
"derived from X.encode" = built here from the vendor's encoder (``Source/Core/src/com/shtrih/fiscalprinter/
command/X.java``: ``writeInt(password)`` = 4 bytes LE, ``writeByte``, …) because no vendor vector exists.
FF30–FF33 (the OFD relay) are tested with the relay work; we open shifts with E0h, so javapos's FF41
(``FSStartDayOpen``) is neither sent nor answered.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from kkt_adapter.kkt.protocol import answers, commands
from kkt_adapter.kkt.protocol.frame import decode_frame, encode_frame, lrc
from kkt_adapter.kkt.protocol.tax import TAX_CODE
from kkt_adapter.receipts.model import Vat


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


# --- frames and requests ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "frame", "source"),
    [
        (commands.get_device_type(), "02 01 FC FD", "fr_drv_ng #236"),
        (commands.simple(commands.FULL_STATUS, 28), "02 05 11 1C 00 00 00 08", "fr_drv_ng #97"),
        (commands.read_table(30, 10, 1, 29), "02 09 1F 1E 00 00 00 0A 01 00 1D 1E", "fr_drv_ng #236"),
    ],
)
def test_request_frames_logged_by_real_devices(body: bytes, frame: str, source: str) -> None:
    """Our frames equal frames real devices logged (the source column names the issue)."""
    assert encode_frame(body) == hx(frame), source


def test_lrc_is_the_xor_of_len_and_body() -> None:
    """fr_drv_ng #236's FCh answer ends in the XOR of its LEN and body (ПротоколККТ 2.0 «Общие положения»)."""
    frame = hx("02 18 FC 00 00 00 02 00 2D 00 D8 D2 D0 C8 D5 2D D1 CC C0 D0 D2 CF CE D1 2D D4 D7")
    assert lrc(frame[1:-1]) == frame[-1]
    assert answers.decode_device_type(decode_frame(frame)[2:]).name == "ШТРИХ-СМАРТПОС-Ф"


@pytest.mark.parametrize(
    ("command", "source"),
    [
        (commands.FN_FIND_DOCUMENT, "javapos test command/FSFindDocumentTests.java"),
        (commands.FN_SETTLEMENT_BUILD, "javapos test command/FSPrintCalcReportTests.java"),
    ],
)
def test_fn_requests_from_javapos_tests(command: int, source: str) -> None:
    """FF0A (FD 163) and FF38 with password 30 are the byte arrays javapos's own tests expect."""
    expected = {
        commands.FN_FIND_DOCUMENT: "FF 0A 1E 00 00 00 A3 00 00 00",
        commands.FN_SETTLEMENT_BUILD: "FF 38 1E 00 00 00",
    }[command]
    body = commands.find_document(30, 163) if command == commands.FN_FIND_DOCUMENT else commands.simple(command, 30)
    assert body == hx(expected), source


@pytest.mark.parametrize(
    ("command", "source"),
    [
        (commands.SHORT_STATUS, "ReadShortStatus"),
        (commands.FULL_STATUS, "ReadLongStatus"),
        (commands.OPEN_SHIFT, "BeginFiscalDay"),
        (commands.X_REPORT, "PrintXReport"),
        (commands.Z_REPORT, "PrintZReport"),
        (commands.CONTINUE_PRINTING, "ContinuePrint"),
        (commands.FN_STATUS, "FSReadStatus"),
        (commands.FN_SERIAL, "FSReadSerial"),
        (commands.FN_EXPIRY, "FSReadExpDate"),
        (commands.FN_EXCHANGE_STATUS, "FSReadCommStatus"),
        (commands.FN_UNCONFIRMED_COUNT, "FSReadDocCount"),
        (commands.FN_SHIFT_PARAMS, "FSReadDayParameters"),
    ],
)
def test_password_only_requests_derived_from_javapos_encoders(command: int, source: str) -> None:
    """Derived from <source>.encode: the code (FF xx for FN commands) then writeInt(password), 4 bytes LE."""
    code = command.to_bytes(2 if command > 0xFF else 1, "big")
    assert commands.simple(command, 0x1E) == code + hx("1E 00 00 00"), source


def test_open_receipt_derived_from_javapos_open_receipt() -> None:
    """8Dh: derived from OpenReceipt.encode — writeInt(password), writeByte(receiptType)."""
    assert commands.open_receipt(1, 2) == hx("8D 01 00 00 00 02")


def test_ff0c_string_is_cp866_as_javapos_tlv_item_test() -> None:
    """FF0C tag 1021 with javapos TLVItemTests' cp866 phrase: the value bytes are that test's bytes."""
    phrase = "Мама, мыла; раму!_AaE)"
    data = hx("8C A0 AC A0 2C 20 AC EB AB A0 3B 20 E0 A0 AC E3 21 5F 41 61 45 29")
    assert commands.send_tlv(30, 1021, phrase.encode("cp866")) == hx("FF 0C 1E 00 00 00 FD 03 16 00") + data


@pytest.mark.parametrize(
    ("vat", "row"), [(Vat.VAT20, 1), (Vat.VAT10, 2), (Vat.VAT0, 3), (Vat.NONE, 4), (Vat.VAT120, 5), (Vat.VAT110, 6)]
)
def test_javapos_text_filter_reads_our_tax_bytes_back_as_rows(vat: Vat, row: int) -> None:
    """javapos TextDocumentFilter.taxBitsToInt (first set bit of 0–5, + 1) turns our bytes back into rows 1–6."""
    code = TAX_CODE[vat]
    first_bit = next(i for i in range(6) if code >> i & 1)
    assert first_bit + 1 == row


# --- answers --------------------------------------------------------------------------------------------


def test_ff0a_receipt_answer_from_javapos_test_decodes() -> None:
    """javapos FSFindDocumentTests.should_deserialize_check: type 3, no ticket, 2017-03-24 20:53, FD 163,
    sign 0x2E4BEAEB, data 01 + 20000 kopecks."""
    body = hx("FF 0A 00 03 00 11 03 18 14 35 A3 00 00 00 EB EA 4B 2E 01 20 4E 00 00 00")
    doc = answers.decode_find_document(answers.check_answer(commands.FN_FIND_DOCUMENT, body))
    assert (doc.doc_type, doc.ticket_received, doc.fd_number, doc.fiscal_sign) == (3, False, 163, 0x2E4BEAEB)
    assert doc.doc_datetime == datetime(2017, 3, 24, 20, 53)
    assert (doc.operation, doc.sum_kop) == (1, 20000)


def test_ff38_answer_from_javapos_test_decodes() -> None:
    """javapos FSPrintCalcReportTests: FD 13, sign 121606715, 2 unconfirmed, first on 2018-01-25."""
    body = hx("FF 38 00 0D 00 00 00 3B 92 3F 07 02 00 00 00 12 01 19")
    report = answers.decode_settlement_report(answers.check_answer(commands.FN_SETTLEMENT_BUILD, body))
    assert (report.fd_number, report.fiscal_sign, report.unconfirmed_count) == (13, 121606715, 2)
    assert report.first_unconfirmed_on == date(2018, 1, 25)


def test_read_table_answer_from_fr_drv_ng_236() -> None:
    """fr_drv_ng #236: the 1Fh answer ``02 03 1F 00 04 18`` carries the one-byte value 4."""
    body = decode_frame(hx("02 03 1F 00 04 18"))
    assert answers.check_answer(commands.READ_TABLE, body) == b"\x04"


def test_ff3f_count_reads_two_or_four_bytes() -> None:
    """«Протокол ФР (Команды работы с ФН)» says 2 bytes, javapos FSReadDocCount.decode reads 4: both decode."""
    assert answers.decode_unconfirmed_count(hx("05 00")) == 5
    assert answers.decode_unconfirmed_count(hx("05 01 00 00")) == 261


FR_DRV_NG_247_FF46 = (
    "02 30 FF 46 1E 00 00 00 01 40 42 0F 00 00 00 10 27 00 00 00 10 27 00 00 00 FF FF FF FF FF 08 00 00 00"
    " CA EE EC EF EB E5 EA F1 ED FB E9 20 EE E1 E5 E4 8F"
)


def test_ff46_without_vat_equals_the_frame_a_real_device_took() -> None:
    """fr_drv_ng #247: a real KKT took this FF46 for "Комплексный обед", 100.00, **без НДС as 0x08** (the row-4
    mask) and answered ``02 03 FF 46 00 BA``; our encoder with Vat.NONE builds the same frame byte for byte."""
    op = commands.OperationV2(1, 10**6, 10000, 10000, None, TAX_CODE[Vat.NONE], 0, 0, 0, "Комплексный обед")
    assert encode_frame(commands.operation_v2(30, op)) == hx(FR_DRV_NG_247_FF46)
    assert answers.check_answer(commands.OPERATION_V2, decode_frame(hx("02 03 FF 46 00 BA"))) == b""


@pytest.mark.parametrize(
    ("body", "expected", "source"),
    [
        (commands.cut(1, partial=True), "25 01 00 00 00 01", "CutPaper.encode: writeInt, writeByte(cutType)"),
        (commands.feed(1, 3), "29 01 00 00 00 02 03", "FeedPaper.encode: writeInt, writeByte(stations), lines"),
        (commands.simple(commands.CANCEL_RECEIPT, 1), "88 01 00 00 00", "VoidFiscalReceipt.encode: writeInt"),
        (commands.simple(commands.FN_FISCALIZATION_TOTALS, 30), "FF 09 1E 00 00 00", "FSReadFiscalization.encode"),
        (commands.simple(commands.FN_SETTLEMENT_BEGIN, 30), "FF 37 1E 00 00 00", "FSStartCalcReport.encode"),
    ],
)
def test_printer_and_fn_requests_derived_from_javapos_encoders(body: bytes, expected: str, source: str) -> None:
    """Derived from the named javapos encoder (no vendor test holds these frames)."""
    assert body == hx(expected), source


def test_print_line_is_the_40_byte_form() -> None:
    """17h: pwd, flags (b1 receipt tape), text NUL-padded to 40 bytes — ПротоколККТ 2.0 "Длина сообщения: 46"; javapos
    PrintString.encode sends the same fields with the text unpadded (the protocol's "6+X" form)."""
    body = commands.print_line(1, "Спасибо")
    assert len(body) == 46
    assert body[:6] == hx("17 01 00 00 00 02")
    assert body[6:] == "Спасибо".encode("cp1251").ljust(40, b"\x00")
