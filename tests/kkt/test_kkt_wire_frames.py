"""Encoders and decoders against the exact wire frames quoted in reference/kkt-protocol.md."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from kkt_adapter.kkt.errors import DeviceRejected, DeviceStateError, ProtocolError
from kkt_adapter.kkt.protocol import answers, commands
from kkt_adapter.kkt.protocol.commands import OperationV2
from kkt_adapter.kkt.protocol.frame import decode_frame, encode_frame
from kkt_adapter.kkt.types import Mode, SubMode


def wire(text: str) -> bytes:
    return bytes.fromhex(text)


@pytest.mark.parametrize(
    ("body", "frame"),
    [
        (commands.simple(commands.SHORT_STATUS, 1), "02 05 10 01 00 00 00 14"),
        (commands.get_device_type(), "02 01 FC FD"),
        (commands.simple(commands.FULL_STATUS, 28), "02 05 11 1C 00 00 00 08"),
        (commands.simple(commands.FN_STATUS, 30), "02 06 FF 01 1E 00 00 00 E6"),
        (commands.simple(commands.FN_EXCHANGE_STATUS, 30), "02 06 FF 39 1E 00 00 00 DE"),
        (commands.simple(commands.FN_UNCONFIRMED_COUNT, 30), "02 06 FF 3F 1E 00 00 00 D8"),
    ],
)
def test_request_frames_match_the_reference(body: bytes, frame: str) -> None:
    """Each request encodes to the byte-exact frame the reference verified."""
    assert encode_frame(body) == wire(frame)


def test_ff45_answer_from_fr_drv_ng_140_decodes() -> None:
    """The real FF45 answer (change 0, FD 29, FP 0xFF3560F3, no date-time) decodes."""
    body = decode_frame(wire("02 10 FF 45 00 00 00 00 00 00 1D 00 00 00 F3 60 35 FF EE"))
    closed = answers.decode_close_v2(answers.check_answer(commands.CLOSE_RECEIPT_V2, body))
    assert closed == answers.CloseAnswer(change_kop=0, fd_number=29, fiscal_sign=0xFF3560F3, fiscal_datetime=None)


def test_ff45_answer_with_optional_date_time_decodes_it() -> None:
    """A trailing FN date-time (YY MM DD HH MM) on the FF45 answer is read."""
    data = wire("10 27 00 00 00 1D 00 00 00 F3 60 35 FF 1A 01 0F 0C 1E")
    closed = answers.decode_close_v2(data)
    assert closed.change_kop == 10000
    assert closed.fiscal_datetime == datetime(2026, 1, 15, 12, 30)


def test_error_only_answer_raises_rejected() -> None:
    """The error-only answer FF38 → 37h raises DeviceRejected carrying the command and code."""
    body = decode_frame(wire("02 03 FF 38 37 F3"))
    with pytest.raises(DeviceRejected) as caught:
        answers.check_answer(commands.FN_SETTLEMENT_BUILD, body)
    assert (caught.value.command, caught.value.code) == (0xFF38, 0x37)


def test_paper_out_answer_raises_state_error() -> None:
    """Error 6Bh (no paper) is a state error the cashier fixes."""
    with pytest.raises(DeviceStateError):
        answers.check_answer(commands.CLOSE_RECEIPT_V2, wire("FF 45 6B"))


def test_answer_for_another_command_is_a_protocol_error() -> None:
    """An answer that does not echo the command code is refused."""
    with pytest.raises(ProtocolError):
        answers.check_answer(commands.SHORT_STATUS, wire("11 00 1E"))


def test_device_type_answer_from_fr_drv_ng_236_decodes_the_name() -> None:
    """The FCh answer of a real device decodes its cp1251 name."""
    body = decode_frame(wire("02 18 FC 00 00 00 02 00 2D 00 D8 D2 D0 C8 D5 2D D1 CC C0 D0 D2 CF CE D1 2D D4 D7"))
    device_type = answers.decode_device_type(answers.check_answer(commands.GET_DEVICE_TYPE, body))
    assert device_type.name == "ШТРИХ-СМАРТПОС-Ф"
    assert device_type.model == 0x2D


def test_short_status_from_the_transcript_decodes() -> None:
    """The 10h answer of §1.7 is shift closed, paper OK, paper present, cover closed."""
    data = answers.check_answer(0x10, wire("10 00 1e c3 02 04 00 00 9c 51 00 00 00 00 00 00"))
    status = answers.decode_short_status(data)
    assert (status.mode, status.sub_mode, status.mode_status) == (Mode.SHIFT_CLOSED, SubMode.PAPER_OK, 0)
    assert status.paper_present
    assert not status.cover_open


def test_open_document_mode_carries_the_document_type_in_the_high_nibble() -> None:
    """Mode byte 0x28 is mode 8 (open document) with status 2 (sale return)."""
    status = answers.decode_short_status(wire("1e 92 02 28 00"))
    assert (status.mode, status.mode_status) == (Mode.OPEN_DOCUMENT, 2)


def test_paper_out_sub_mode_means_no_paper() -> None:
    """Sub-mode 2 (paper out while printing) reports no paper even if the roll flag is set."""
    assert not answers.decode_short_status(wire("1e 92 02 02 02")).paper_present


def test_unknown_mode_is_a_protocol_error() -> None:
    """A mode value outside the table is refused rather than guessed."""
    with pytest.raises(ProtocolError):
        answers.decode_short_status(wire("1e 92 02 07 00"))


def test_fn_status_from_the_transcript_decodes() -> None:
    """The FF01 answer of §1.7 decodes phase, shift flag, date, serial and last FD."""
    answer = wire("ff 01 00 03 00 00 01 00 18 05 06 07 08") + b"9999078900012345" + wire("02 00 00 00")
    status = answers.decode_fn_status(answers.check_answer(commands.FN_STATUS, answer))
    assert (status.phase, status.shift_open, status.last_fd_number) == (3, True, 2)
    assert status.fn_datetime == datetime(2024, 5, 6, 7, 8)
    assert status.fn_serial == "9999078900012345"


def test_exchange_status_from_the_transcript_decodes() -> None:
    """The FF39 answer of §1.7: 2 unsent, the first is FD 5 of 2024-05-01 10:00."""
    data = answers.check_answer(0xFF39, wire("ff 39 00 02 00 02 00 05 00 00 00 18 05 01 0a 00"))
    status = answers.decode_exchange_status(data)
    assert (status.status_bits, status.unsent_count, status.first_unsent_number) == (2, 2, 5)
    assert status.first_unsent_at == datetime(2024, 5, 1, 10, 0)


def test_empty_exchange_queue_has_no_first_date() -> None:
    """With nothing unsent the first-unsent date is None even if the bytes are zero."""
    status = answers.decode_exchange_status(wire("00 00 00 00 00 00 00 00 00 00 00 00 00"))
    assert (status.unsent_count, status.first_unsent_at) == (0, None)


def test_find_document_receipt_from_the_transcript_decodes() -> None:
    """The FF0A answer of §1.7: receipt FD 3, sign 0xDEADBEEF, sale of 100.00 RUB."""
    answer = wire("ff 0a 00 03 00 18 05 06 07 08 03 00 00 00 ef be ad de 01 10 27 00 00 00")
    doc = answers.decode_find_document(answers.check_answer(commands.FN_FIND_DOCUMENT, answer))
    assert (doc.doc_type, doc.fd_number, doc.fiscal_sign) == (3, 3, 0xDEADBEEF)
    assert (doc.operation, doc.sum_kop, doc.ticket_received) == (1, 10000, False)
    assert doc.doc_datetime == datetime(2024, 5, 6, 7, 8)


def test_find_document_accepts_a_four_byte_sum() -> None:
    """A receipt sum in 4 bytes (FN-1.2 description) is read too."""
    data = wire("03 01 18 05 06 07 08 03 00 00 00 ef be ad de 01 10 27 00 00")
    assert answers.decode_find_document(data).sum_kop == 10000


def test_find_document_shift_close_carries_the_shift_number() -> None:
    """A shift-close document (type 5) carries its shift number."""
    data = wire("05 01 18 05 06 07 08 07 00 00 00 01 02 03 04 0c 00")
    doc = answers.decode_find_document(data)
    assert (doc.shift_number, doc.operation, doc.sum_kop, doc.ticket_received) == (12, None, None, True)


def test_ff46_body_matches_the_transcript() -> None:
    """FF46 for 1 × 100.00 RUB "Товар" (sum and tax not given) matches the pyshtrih raw request."""
    op = OperationV2(1, 1_000_000, 10000, None, None, 1, 1, 4, 1, "Товар")
    expected = wire(
        "ff 46 1e 00 00 00 01 40 42 0f 00 00 00 10 27 00 00 00 ff ff ff ff ff ff ff ff ff ff 01 01 04 01 d2 ee e2 e0 f0"
    )
    assert commands.operation_v2(30, op) == expected


def test_fn_expiry_and_shift_params_decode() -> None:
    """FF03 (expiry YY MM DD) and FF40 (state, shift, receipt) decode."""
    assert answers.decode_fn_expiry(wire("1b 06 1e 0b 01")).expires_on == date(2027, 6, 30)
    params = answers.decode_shift_params(wire("01 0c 00 05 00"))
    assert (params.is_open, params.shift_number, params.receipt_number) == (True, 12, 5)


def test_short_answers_are_protocol_errors() -> None:
    """A data part shorter than the layout raises ProtocolError, not IndexError."""
    with pytest.raises(ProtocolError):
        answers.decode_fn_status(wire("03 00 00"))
    with pytest.raises(ProtocolError):
        answers.decode_close_v2(wire("00 00 00 00 00 1d"))


def test_registration_totals_decode_inn_and_registration_number() -> None:
    """FF09 (javapos layout, with the re-registration reason byte) gives the INN and the RNM."""
    data = wire("18 05 06 07 08") + b"7707083893  " + b"0000000001012345    " + wire("01 00 00 05 00 00 00 ef be ad de")
    registration = answers.decode_registration(data)
    assert (registration.inn, registration.registration_number) == ("7707083893", "0000000001012345")
    assert (registration.registered_at, registration.tax_systems) == (datetime(2024, 5, 6, 7, 8), 1)
