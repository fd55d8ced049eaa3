"""The FN↔OFD wire codec against real captured bytes (tests/ofd/ofd_golden.py names their source).

Session header for the captured containers: built the way yandex/ofd ``example/mock_ofd.py``
``create_response`` (commit fd8e66b) answers, ``SessionHeader(pva=incoming, fs_id, length=len(container),
flags=0b10100, crc=0)`` with ``STRUCT = '<IHH16sHHH'``, magic ``2a08410a``, S-version ``81a2``
(yandex/ofd ``ofd/protocol.py``).
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ofd_golden import FN_MESSAGE_FD1, MYOFD_CONTAINER_FD1, TAXCOM_TICKET_FD1, TAXCOM_TICKET_FD2

from kkt_adapter.ofd.wire import (
    OfdAnswerCode,
    OfdWireError,
    WireFault,
    check_ticket,
    container_crc,
    crc16_ccitt_false,
    fix_p_version_0102,
    parse_container,
    parse_message,
)

FN = "9999078902013267"
P_VERSION_FFD12 = bytes.fromhex("0120")


def _session(container: bytes, fn: str = FN, signature: bytes = bytes.fromhex("2a08410a")) -> bytes:
    """A session header as yandex/ofd's mock OFD writes one in front of its answer."""
    head = struct.pack(
        "<4s2s2s16sHHH", signature, bytes.fromhex("81a2"), P_VERSION_FFD12, fn.encode(), len(container), 0x14, 0
    )
    return head + container


def _fault(answer: bytes, fn: str = FN, fd: int = 2) -> WireFault:
    with pytest.raises(OfdWireError) as caught:
        check_ticket(answer, fn, fd)
    return caught.value.fault


def test_crc_check_value() -> None:
    """CRC-16/CCITT-FALSE of b"123456789" is 0x29B1 (RevEng CRC catalogue, CRC-16/IBM-3740 alias CCITT-FALSE)."""
    assert crc16_ccitt_false(b"123456789") == 0x29B1


@pytest.mark.parametrize(
    ("container", "stored"),
    [
        (FN_MESSAGE_FD1[30:], 0xBEFD),
        (TAXCOM_TICKET_FD1, 0xEF45),
        (TAXCOM_TICKET_FD2, 0xACD5),
        (MYOFD_CONTAINER_FD1, 0x66F9),
    ],
    ids=["fn-message", "taxcom-fd1", "taxcom-fd2", "myofd-fd1"],
)
def test_container_crc_matches_real_containers(container: bytes, stored: int) -> None:
    """Our CRC over container[0:2] + container[4:] equals the CRC field of every captured container (Mcublog/ofd)."""
    assert struct.unpack_from("<H", container, 2)[0] == stored
    assert container_crc(container) == stored


def test_parse_real_fn_message() -> None:
    """The captured FN message reads as FN 9999078902013267, FD 1, re-registration (11), FN→OFD, flags 0x0014."""
    message = parse_message(FN_MESSAGE_FD1)
    assert (message.fn_serial, message.fd_number, message.doc_type, message.msg_type) == (FN, 1, 11, 0xA5)
    assert (message.p_version, message.flags, message.session_crc) == (P_VERSION_FFD12, 0x0014, 0)
    assert message.container.length == 295 == len(FN_MESSAGE_FD1) - 30


def test_parse_real_containers_fd_numbers() -> None:
    """The FD number is 3 bytes big-endian: Taxcom's tickets name FD 1 and FD 2 (Mcublog/ofd)."""
    assert parse_container(TAXCOM_TICKET_FD1).fd_number == 1
    assert parse_container(TAXCOM_TICKET_FD2).fd_number == 2


def test_real_taxcom_ticket_is_accepted() -> None:
    """Taxcom's ticket for FD 2 (answer code 0) is a valid ticket for FN 9999078902013267, FD 2."""
    check_ticket(_session(TAXCOM_TICKET_FD2), FN, 2)


def test_real_ticket_with_answer_code_is_refused_with_the_code() -> None:
    """Taxcom's ticket for FD 1 carries tag 1022 = 14 inside 1068 inside tag 7: refused, code kept."""
    with pytest.raises(OfdAnswerCode) as caught:
        check_ticket(_session(TAXCOM_TICKET_FD1), FN, 1)
    assert caught.value.code == 14


def test_container_of_the_fn_to_ofd_type_is_not_a_ticket() -> None:
    """The "my OFD" container has message type 0xA5 (FN→OFD): not a ticket."""
    assert _fault(_session(MYOFD_CONTAINER_FD1), fd=1) == WireFault.MSG_TYPE


def test_ticket_for_another_fd_is_refused() -> None:
    """A real ticket for FD 2 is not a ticket for FD 3."""
    assert _fault(_session(TAXCOM_TICKET_FD2), fd=3) == WireFault.FD_NUMBER


def test_ticket_for_another_fn_in_the_session_header_is_refused() -> None:
    """The session header naming another FN is refused before the container is read."""
    assert _fault(_session(TAXCOM_TICKET_FD2, fn="9999078900000001")) == WireFault.FN_SERIAL


def test_ticket_whose_container_names_another_fn_is_refused() -> None:
    """A session header for our FN around a container for another FN is refused."""
    assert _fault(_session(TAXCOM_TICKET_FD2, fn="9999078900000001"), fn="9999078900000001") == WireFault.FN_NUMBER


def test_header_only_answer_is_refused() -> None:
    """A session header with body length 0 carries no ticket."""
    assert _fault(_session(b"")) == WireFault.HEADER_ONLY


def test_bad_signature_is_refused() -> None:
    """The session signature must be 2A 08 41 0A."""
    assert _fault(_session(TAXCOM_TICKET_FD2, signature=b"\x2a\x08\x41\x0b")) == WireFault.SIGNATURE


def test_bad_s_version_is_refused() -> None:
    """The S-version must be 81 A2."""
    answer = bytearray(_session(TAXCOM_TICKET_FD2))
    answer[5] = 0xA3
    assert _fault(bytes(answer)) == WireFault.S_VERSION


def test_answer_cut_in_the_body_is_refused() -> None:
    """Fewer body bytes than the session header announces is a body-length fault."""
    assert _fault(_session(TAXCOM_TICKET_FD2)[:-5]) == WireFault.BODY_LENGTH


def test_answer_shorter_than_a_header_is_refused() -> None:
    """Fewer than 30 bytes is truncated."""
    assert _fault(_session(TAXCOM_TICKET_FD2)[:29]) == WireFault.TRUNCATED


def test_bad_crc_is_refused() -> None:
    """One changed byte in the ticket's body fails the container CRC."""
    answer = bytearray(_session(TAXCOM_TICKET_FD2))
    answer[-12] ^= 0x01
    assert _fault(bytes(answer)) == WireFault.CRC


@given(st.integers(min_value=0, max_value=len(TAXCOM_TICKET_FD2) - 1), st.integers(min_value=1, max_value=255))
def test_any_changed_container_byte_is_refused(index: int, flip: int) -> None:
    """Changing any one byte of a valid ticket's container makes it invalid (CRC-16 catches every 1-byte error)."""
    container = bytearray(TAXCOM_TICKET_FD2)
    container[index] ^= flip
    with pytest.raises(OfdWireError):
        check_ticket(_session(bytes(container)), FN, 2)


def test_fn_message_whose_headers_disagree_on_the_fn_is_refused() -> None:
    """parse_message refuses a message whose container FN differs from its session header's."""
    message = bytearray(FN_MESSAGE_FD1)
    message[8:24] = b"9999078900000001"
    with pytest.raises(OfdWireError) as caught:
        parse_message(bytes(message))
    assert caught.value.fault == WireFault.FN_NUMBER


def test_header_only_message_is_refused_by_parse() -> None:
    """parse_message needs a container."""
    with pytest.raises(OfdWireError) as caught:
        parse_message(FN_MESSAGE_FD1[:30].replace(b"\x27\x01\x14\x00", b"\x00\x00\x14\x00"))
    assert caught.value.fault == WireFault.HEADER_ONLY


def test_p_version_0102_is_rewritten_only_as_the_vendor_does() -> None:
    """javapos 6d25616b: bytes 6–7 ``01 02`` with session CRC 0 become ``01 20``; other headers are untouched."""
    message = FN_MESSAGE_FD1[:6] + b"\x01\x02" + FN_MESSAGE_FD1[8:]
    assert fix_p_version_0102(message) == FN_MESSAGE_FD1  # the captured message is FFD 1.2: 01 20
    assert fix_p_version_0102(FN_MESSAGE_FD1) == FN_MESSAGE_FD1
    with_crc = message[:28] + b"\x12\x34" + message[30:]
    assert fix_p_version_0102(with_crc) == with_crc
