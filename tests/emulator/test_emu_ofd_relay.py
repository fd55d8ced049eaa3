"""The emulated FN's OFD relay: FF30–FF33 as the vendor's vectors, messages as real FNs lay them out, tickets
checked in the FN's order, the queue popped only by a valid ticket, and the relay faults.

Sources: javapos_shtrih ``FSReadBufferStatusTests.java`` / ``FSReadBlockTests.java`` (request and answer
bytes), fr_drv_ng issue 58 (a real FF32 frame), Mcublog/ofd ``tests/emu_test.py`` (captured FN message and
OFD tickets, via ``tests/ofd/ofd_golden.py``), yandex/ofd ``ofd/protocol.py`` (header layouts).
"""

from __future__ import annotations

import importlib.util
import struct
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest
from emu_helpers import T0, RawClient, decode_frame, encode_frame, new_device, request, run

from kkt_adapter.emulator import Emulator
from kkt_adapter.emulator import ofd_message as m
from kkt_adapter.emulator.faults import Faults
from kkt_adapter.emulator.model import Device

FN_BAD_FORMAT, FN_WRONG_STATE, FN_CRYPTO, FN_NO_DATA, FN_REFUSED = 0x01, 0x02, 0x04, 0x08, 0x20
FN = "9999078900012345"  # DeviceConfig's default FN serial


def _golden() -> ModuleType:
    path = Path(__file__).parent.parent / "ofd" / "ofd_golden.py"
    spec = importlib.util.spec_from_file_location("ofd_golden_bytes", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GOLDEN = _golden()


def _shift_open(faults: Faults | None = None) -> Device:
    dev = new_device(faults=faults)
    assert run(dev, 0xE0, password=1)[0] == 0  # FD 1: the shift-open report
    return dev


def _read(dev: Device) -> bytes:
    """FF30, then FF31 blocks as the vendor's fsReadBlockData does."""
    err, status = run(dev, 0xFF30)
    assert err == 0
    size, block = struct.unpack("<HB", status)
    out = b""
    for offset in range(0, size, block):
        err, data = run(dev, 0xFF31, struct.pack("<HB", offset, min(block, size - offset)))
        assert err == 0
        out += data
    return out


def _write(dev: Device, answer: bytes) -> int:
    """FF32, then FF33 blocks of the announced size; the error of the last command."""
    err, data = run(dev, 0xFF32, struct.pack("<H", len(answer)))
    if err:
        return err
    block = data[0]
    for offset in range(0, len(answer), block):
        chunk = answer[offset : offset + block]
        err = run(dev, 0xFF33, struct.pack("<HB", offset, len(chunk)) + chunk)[0]
        if err:
            return err
    return 0


def _unsent(dev: Device) -> tuple[int, int]:
    """FF39's queue length and first FD."""
    data = run(dev, 0xFF39)[1]
    return struct.unpack_from("<H", data, 2)[0], struct.unpack_from("<I", data, 4)[0]


def _ticket(fd: int, fn: str = FN) -> bytes:
    return m.ofd_ticket(fn, fd, T0)


def _recrc(answer: bytes) -> bytes:
    """``answer`` with its container CRC recomputed (so a test reaches the checks after the CRC)."""
    container = bytearray(answer[30:])
    container[2:4] = struct.pack("<H", m.container_crc(bytes(container)))
    return answer[:30] + bytes(container)


# --- the codec against real bytes -------------------------------------------------------------------------


def test_crc_matches_the_captured_containers() -> None:
    """The emulator's own CRC-16/CCITT-FALSE gives the CRC fields of the four captured containers (Mcublog/ofd)."""
    containers = [GOLDEN.FN_MESSAGE_FD1[30:], GOLDEN.TAXCOM_TICKET_FD1, GOLDEN.TAXCOM_TICKET_FD2]
    containers.append(GOLDEN.MYOFD_CONTAINER_FD1)
    assert [m.container_crc(c) for c in containers] == [0xBEFD, 0xEF45, 0xACD5, 0x66F9]
    assert m.crc16_ccitt_false(b"123456789") == 0x29B1  # the catalogued check value of CRC-16/CCITT-FALSE


def test_message_headers_are_laid_out_as_the_captured_fn_message() -> None:
    """Signature, S-version, P-version, flags, CRC 0, type A5, version and the 10 09 field sit where the real
    FN's message has them; the BCD FN number and the 3-byte big-endian FD are encoded the same way."""
    real = GOLDEN.FN_MESSAGE_FD1
    ours = m.fn_message("9999078902013267", 1, 11, T0, 0x1234)
    assert ours[0:8] == real[0:8]
    assert ours[8:24] == real[8:24]  # the same FN serial gives the same ASCII field
    assert ours[26:30] == real[26:30] == b"\x14\x00\x00\x00"
    assert ours[34:50] == real[34:50]  # A5, doc type 11, version 01, 10 09, FN BCD, FD 00 00 01
    assert struct.unpack_from("<H", ours, 24)[0] == len(ours) - 30 == struct.unpack_from("<H", ours, 30)[0]
    assert struct.unpack_from("<H", ours, 32)[0] == m.container_crc(ours[30:])


# --- FF30 / FF31 / FF32 / FF33 byte for byte -------------------------------------------------------------


def test_ff30_vector_shape() -> None:
    """FSReadBufferStatusTests: request FF 30 1E 00 00 00; the answer is FF 30 00, size u16, block F0."""
    dev = _shift_open()
    answer = dev.execute(bytes.fromhex("FF301E000000"), T0).answer
    size = len(m.fn_message(FN, 1, 2, T0, dev.state.documents[0].fiscal_sign))
    assert answer == bytes.fromhex("FF3000") + struct.pack("<H", size) + b"\xf0"


def test_ff30_with_nothing_to_send_answers_size_zero() -> None:
    """An FN whose documents all have tickets answers size 0 (the vendor's loop stops there)."""
    assert new_device().execute(bytes.fromhex("FF301E000000"), T0).answer == bytes.fromhex("FF30000000F0")


def test_ff31_vector_reads_the_tail_block() -> None:
    """FSReadBlockTests: FF 31 1E 00 00 00 F0 00 5E reads 94 bytes from offset 240 of a 334-byte message."""
    dev = _shift_open()
    # grow FD 1's message to the vector's 334 bytes (the padding TLV adds its own 4 header bytes)
    dev.ofd.padding[1] = 334 - len(m.fn_message(FN, 1, 2, T0, 0)) - 4
    whole = _read(dev)
    assert len(whole) == 334
    answer = dev.execute(bytes.fromhex("FF311E000000F0005E"), T0).answer
    assert answer == bytes.fromhex("FF3100") + whole[240:334]


def test_ff32_vector_from_a_real_frame() -> None:
    """fr_drv_ng issue 58: 02 08 FF 32 1E 00 00 00 79 00 A2 starts a 121-byte answer; the FN answers its block."""
    body = decode_frame(bytes.fromhex("0208FF321E0000007900A2"))
    answer = _shift_open().execute(body, T0).answer
    assert answer[:3] == bytes.fromhex("FF3200")
    assert len(answer) == 4


def test_message_is_read_whole_and_unchanged() -> None:
    """FF30/FF31 hand out exactly the head document's message, with both headers and a valid CRC and MAC."""
    dev = _shift_open()
    message = _read(dev)
    container = message[30:]
    assert (container[4], container[5]) == (m.MSG_FN_TO_OFD, 2)  # FN→OFD, shift-open report
    assert int.from_bytes(container[17:20], "big") == 1
    assert container[-8:-2] == m.mac(container)


def test_every_document_is_queued_in_fd_order() -> None:
    """Shift open, a receipt-free shift close: two messages, FD 1 first; the head moves only with a ticket."""
    dev = _shift_open()
    assert run(dev, 0x41)[0] == 0  # FD 2: shift close
    assert _unsent(dev) == (2, 1)
    assert _read(dev)[30 + 5] == 2
    assert _write(dev, _ticket(1)) == 0
    assert _unsent(dev) == (1, 2)
    assert _read(dev)[30 + 5] == 5


def test_valid_ticket_pops_the_queue_and_ff3c_has_it() -> None:
    """A valid ticket for the head: FF3F falls to 0, FF3C returns the stored ticket, state persisted."""
    dev = _shift_open()
    assert _write(dev, _ticket(1)) == 0
    assert run(dev, 0xFF3F)[1] == b"\x00\x00"
    assert run(dev, 0xFF3C, struct.pack("<I", 1))[0] == 0
    assert dev.state.documents[0].ticket_received


def test_the_same_ticket_twice_is_refused_the_second_time() -> None:
    """A ticket already taken names an FD no longer at the head: refused (08h when nothing waits)."""
    dev = _shift_open()
    assert _write(dev, _ticket(1)) == 0
    assert _write(dev, _ticket(1)) == FN_NO_DATA


@pytest.mark.parametrize(
    ("damage", "code", "check"),
    [
        (lambda t: b"\x2a\x08\x41\x0b" + t[4:], FN_BAD_FORMAT, "signature"),
        (lambda t: t[:4] + b"\x81\xa3" + t[6:], FN_BAD_FORMAT, "signature"),
        (lambda t: t[:100], FN_BAD_FORMAT, "length"),
        (lambda t: _ticket(1, "9999078900099999"), FN_REFUSED, "fn_serial"),
        (lambda t: t[:-3] + bytes([t[-3] ^ 1]) + t[-2:], FN_REFUSED, "crc"),
        (lambda t: _recrc(t[:34] + b"\xa5" + t[35:]), FN_REFUSED, "msg_type"),
        (lambda t: _ticket(2), FN_REFUSED, "fd_number"),
        (lambda t: _recrc(t[:-3] + bytes([t[-3] ^ 1]) + t[-2:]), FN_CRYPTO, "mac"),
        (lambda t: m.ofd_ticket(FN, 1, T0, key=b"another key"), FN_CRYPTO, "mac"),
    ],
    ids=["signature", "s-version", "truncated", "fn-serial", "crc", "type", "fd", "mac-bit", "mac-key"],
)
def test_bad_ticket_is_refused_and_the_queue_stays(damage, code, check) -> None:  # type: ignore[no-untyped-def]
    """Each damaged ticket is refused with its FN code at its step; the document stays at the head."""
    dev = _shift_open()
    assert _write(dev, damage(_ticket(1))) == code
    assert dev.ofd.last_refusal is not None
    assert dev.ofd.last_refusal["check"] == check
    assert _unsent(dev) == (1, 1)


def test_checks_run_in_the_fn_order() -> None:
    """A ticket wrong in FN serial and CRC and FD is refused for the FN serial: the first check wins."""
    dev = _shift_open()
    bad = _ticket(7, "9999078900099999")
    bad = bad[:-3] + bytes([bad[-3] ^ 1]) + bad[-2:]
    assert _write(dev, bad) == FN_REFUSED
    assert dev.ofd.last_refusal is not None
    assert dev.ofd.last_refusal["check"] == "fn_serial"


def test_ff33_without_ff32_is_a_wrong_state() -> None:
    """FF33 with no answer begun answers 02h."""
    assert run(_shift_open(), 0xFF33, struct.pack("<HB", 0, 1) + b"x")[0] == FN_WRONG_STATE


def test_ff31_beyond_the_message_is_a_bad_format() -> None:
    """A block past the end of the message answers 01h."""
    dev = _shift_open()
    size = struct.unpack_from("<H", run(dev, 0xFF30)[1])[0]
    assert run(dev, 0xFF31, struct.pack("<HB", size - 1, 2))[0] == FN_BAD_FORMAT


# --- faults and the 30-day clock -----------------------------------------------------------------------


def test_length_fault_grows_the_message_between_ff30_and_ff31() -> None:
    """With ofd_length_change the first FF31 finds a longer message than FF30 announced; later reads agree."""
    dev = _shift_open(Faults(ofd_length_change=True))
    announced = struct.unpack_from("<H", run(dev, 0xFF30)[1])[0]
    head = run(dev, 0xFF31, struct.pack("<HB", 0, 30))[1]
    grown = struct.unpack_from("<H", head, 24)[0] + 30
    assert grown > announced
    assert len(_read(dev)) == grown


def test_refuse_fault_refuses_a_valid_ticket() -> None:
    """refuse_ticket_code makes the FN refuse even a valid ticket with that code; the queue stays."""
    dev = _shift_open(Faults(refuse_ticket_code=0x20))
    assert _write(dev, _ticket(1)) == FN_REFUSED
    assert _unsent(dev) == (1, 1)


def test_block_counts_from_the_oldest_unacknowledged_document() -> None:
    """The FN blocks 30 days after its oldest document without a ticket (on the emulated clock); a ticket for
    that document lifts the block even though a newer one still waits."""
    dev = _shift_open()
    assert run(dev, 0x41, now=T0 + timedelta(days=1))[0] == 0  # FD 2, a day younger than FD 1
    later = T0 + timedelta(days=30, minutes=1)
    assert run(dev, 0xE0, password=1, now=later)[0] == 0x15  # a new shift is refused: FD 1 is 30 days old
    ticket = _ticket(1)
    begin = dev.execute(request(0xFF32, struct.pack("<H", len(ticket))), later)
    block = begin.answer[3]
    errors = [
        dev.execute(
            request(0xFF33, struct.pack("<HB", off, len(ticket[off : off + block])) + ticket[off : off + block]), later
        ).error
        for off in range(0, len(ticket), block)
    ]
    assert errors == [0] * len(errors)
    assert run(dev, 0xE0, password=1, now=later)[0] == 0


def test_slow_fn_delays_relay_answers_on_the_pty(tmp_path: Path) -> None:
    """With ofd_delay_ms the FF30 answer comes after the delay (real pty, real emulator thread)."""
    import time

    with Emulator(tmp_path / "kkt0", tmp_path / "kkt.json") as emu:
        emu.set_faults(ofd_delay_ms=300)
        client = RawClient(emu.path)
        try:
            client.write(b"\x05")
            assert client.read(1) == b"\x15"  # NAK: idle, ready for a frame
            started = time.monotonic()
            client.write(encode_frame(bytes.fromhex("FF301E000000")))
            assert client.read(1) == b"\x06"
            frame = client.read_frame(timeout_s=3.0)
            elapsed = time.monotonic() - started
        finally:
            client.close()
    assert decode_frame(frame) == bytes.fromhex("FF30000000F0")
    assert elapsed >= 0.3


def test_the_ofd_simulators_ticket_is_accepted() -> None:
    """The OFD simulator, written on its own from docs/emulator.md, reads the FN's message and answers a
    ticket this FN takes: the two test doubles agree on the layout and the test MAC."""
    from kkt_adapter.ofd.sim import frames

    dev = _shift_open()
    message = _read(dev)
    incoming = frames.read_message(message[:30], message[30:])
    answer = frames.ticket(incoming, 1_772_000_000, frames.DEFAULT_MAC_KEY)
    assert _write(dev, answer) == 0
    assert _unsent(dev) == (0, 0)
