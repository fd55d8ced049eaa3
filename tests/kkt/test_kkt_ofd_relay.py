"""FF30–FF33 in our codec byte for byte against the vendor's vectors, and the driver's relay operations
against the emulator on a real pty (read the FN's message, write the OFD's answer, refusals, a message that
changes while it is read).

Sources: javapos_shtrih ``Source/FiscalPrinterService/test/.../FSReadBufferStatusTests.java`` and
``FSReadBlockTests.java``; ``Source/Core/.../command/FSWriteBlock.java`` / ``FSStartWriteBlock.java`` (the
field order: password u32, offset u16, length u8, data); shtrih-m/fr_drv_ng issue 58 (a real FF32 frame);
the read and write loops of ``SMFiscalPrinterImpl.fsReadBlockData`` / ``fsWriteBlockData`` /
``sendFDODocuments`` (read blocks of the FN's maxBlock, write blocks of FF32's answer).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import datetime

import pytest
from kkt_emu import connected

from kkt_adapter.emulator import Emulator
from kkt_adapter.emulator import ofd_message as emu_ofd
from kkt_adapter.kkt.driver import ShtrihDriver
from kkt_adapter.kkt.errors import DeviceRejected, OfdMessageChanged
from kkt_adapter.kkt.protocol import answers, commands
from kkt_adapter.kkt.protocol.frame import encode_frame
from kkt_adapter.ofd.wire import parse_message

SYSADMIN = 30

# FSReadBlockTests.should_deserialize_response: the 94 data bytes after FF 31 00.
FF31_RESPONSE_DATA = bytes.fromhex(
    "01D1BAA253A83D11DBEE4166E4384D374ADE7489381A10B39178A545EB5016E18D240645CBB2C41F2AB080BD6A23893E"
    "DBE407364AFB33D02F1BA2A8D1FBA24832CB3088EEC4DF1CA61F962FE2A84628EBB50E6C76F2864FCEBD06D6DF9A01"
)


# --- the codec, byte for byte ------------------------------------------------------------------------


def test_ff30_request_vector() -> None:
    """FSReadBufferStatusTests: FF30 with password 30 is FF 30 1E 00 00 00."""
    assert commands.simple(commands.FN_OFD_READ_STATUS, SYSADMIN) == bytes.fromhex("FF301E000000")


def test_ff30_answer_vector() -> None:
    """FSReadBufferStatusTests: the answer FF 30 00 4E 01 F0 is 334 bytes to read in blocks of 240."""
    data = answers.check_answer(0xFF30, bytes.fromhex("FF30004E01F0"))
    assert answers.decode_ofd_read_status(data) == (334, 240)


def test_ff31_request_vector() -> None:
    """FSReadBlockTests: 94 bytes from offset 240 with password 30 is FF 31 1E 00 00 00 F0 00 5E."""
    assert commands.ofd_read_block(SYSADMIN, 240, 94) == bytes.fromhex("FF311E000000F0005E")


def test_ff31_answer_vector() -> None:
    """FSReadBlockTests: the answer's data are the bytes after FF 31 00, unchanged."""
    assert answers.check_answer(0xFF31, bytes.fromhex("FF3100") + FF31_RESPONSE_DATA) == FF31_RESPONSE_DATA


def test_ff32_real_frame() -> None:
    """fr_drv_ng issue 58: starting a 121-byte answer with password 30 is the frame 02 08 FF 32 1E 00 00 00 79 00 A2."""
    assert encode_frame(commands.ofd_answer_begin(SYSADMIN, 121)) == bytes.fromhex("0208FF321E0000007900A2")


def test_ff33_field_order() -> None:
    """FSWriteBlock.encode: password u32, offset u16, length u8, then the data."""
    body = commands.ofd_answer_block(SYSADMIN, 0x0140, b"\xaa\xbb")
    assert body == bytes.fromhex("FF331E000000400102AABB")


def test_answer_blocks_as_the_vendor_cuts_them() -> None:
    """fsWriteBlockData: blocks of FF32's block size from offset 0, the last one shorter."""
    answer = bytes(range(150))
    assert [(o, len(c)) for o, c in commands.ofd_answer_blocks(answer, 64)] == [(0, 64), (64, 64), (128, 22)]


# --- the driver on a pty -----------------------------------------------------------------------------


@pytest.fixture
def kkt(emu: Emulator) -> Iterator[ShtrihDriver]:
    driver = connected(emu)
    driver.open_shift()  # FD 1
    yield driver
    driver.close()


def _ticket(emu: Emulator, fd: int) -> bytes:
    """A ticket the emulated FN accepts (its own test MAC, docs/emulator.md)."""
    return emu_ofd.ofd_ticket(emu.snapshot()["fn"]["serial"], fd, datetime(2026, 3, 2, 9, 0))


def test_read_returns_the_whole_message(emu: Emulator, kkt: ShtrihDriver) -> None:
    """read_ofd_message returns the FN's message for FD 1 with both headers, as FF30 sized it."""
    message = kkt.read_ofd_message()
    assert message is not None
    assert len(message) == emu.snapshot()["ofd_relay"]["message_bytes"]
    parsed = parse_message(message)
    assert (parsed.fn_serial, parsed.fd_number, parsed.doc_type) == (emu.snapshot()["fn"]["serial"], 1, 2)


def test_read_with_nothing_waiting_is_none(emu: Emulator, kkt: ShtrihDriver) -> None:
    """With every document confirmed, FF30 says size 0 and read_ofd_message returns None."""
    emu.ofd_ack()
    assert kkt.read_ofd_message() is None


def test_read_does_not_remove_the_message(kkt: ShtrihDriver) -> None:
    """Reading twice gives the same bytes: only a ticket moves the queue on."""
    assert kkt.read_ofd_message() == kkt.read_ofd_message()


def test_message_longer_than_one_block_is_read_in_blocks(emu: Emulator, kkt: ShtrihDriver) -> None:
    """A message longer than maxBlock (240) comes back whole from several FF31 blocks."""
    kkt.z_report()  # FD 2
    kkt.open_shift()  # FD 3
    emu.set_faults(ofd_length_change=True)
    with pytest.raises(OfdMessageChanged):
        kkt.read_ofd_message()
    for _ in range(14):  # grow FD 1's message past one block (16 bytes each), as the FN may hand it out
        emu.set_faults(ofd_length_change=True)
        with pytest.raises(OfdMessageChanged):
            kkt.read_ofd_message()
    message = kkt.read_ofd_message()
    assert message is not None
    assert len(message) > 240
    assert parse_message(message).fd_number == 1


def test_length_change_between_ff30_and_ff31_is_detected(emu: Emulator, kkt: ShtrihDriver) -> None:
    """When the FN's message grows after FF30, the read raises OfdMessageChanged; the next read is whole."""
    emu.set_faults(ofd_length_change=True)
    with pytest.raises(OfdMessageChanged):
        kkt.read_ofd_message()
    message = kkt.read_ofd_message()
    assert message is not None
    assert parse_message(message).fd_number == 1


def test_valid_answer_pops_the_fn_queue(emu: Emulator, kkt: ShtrihDriver) -> None:
    """Writing a valid ticket for the head (several FF33 blocks) empties the queue: FF39 and FF3F show it."""
    kkt.write_ofd_answer(_ticket(emu, 1))
    assert kkt.exchange_status().unsent_count == 0
    assert kkt.unconfirmed_count() == 0
    assert len(kkt.ofd_ticket(1)) > 0


def test_refused_answer_is_device_rejected_with_the_fn_code(emu: Emulator, kkt: ShtrihDriver) -> None:
    """A ticket for another FD is refused: DeviceRejected carrying FN code 20h; the queue is unchanged."""
    with pytest.raises(DeviceRejected) as caught:
        kkt.write_ofd_answer(_ticket(emu, 9))
    assert caught.value.code == 0x20
    assert kkt.exchange_status().unsent_count == 1


def test_bad_mac_is_device_rejected_even_though_04h_is_a_state_code(emu: Emulator, kkt: ShtrihDriver) -> None:
    """A ticket with a wrong MAC: FN code 04h (a "state" code elsewhere) is a refusal of this answer."""
    bad = emu_ofd.ofd_ticket(emu.snapshot()["fn"]["serial"], 1, datetime(2026, 3, 2), key=b"not the key")
    with pytest.raises(DeviceRejected) as caught:
        kkt.write_ofd_answer(bad)
    assert caught.value.code == 0x04


def test_session_header_length_is_checked_against_ff30(emu: Emulator, kkt: ShtrihDriver) -> None:
    """The session header's body length (bytes 24–25) is what FF30 announced, minus 30."""
    message = kkt.read_ofd_message()
    assert message is not None
    assert struct.unpack_from("<H", message, 24)[0] == len(message) - 30
