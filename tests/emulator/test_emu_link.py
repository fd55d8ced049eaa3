"""The emulator's link layer over a real pty, byte by byte."""

from __future__ import annotations

import os
import termios
import time
from pathlib import Path

from emu_helpers import RawClient, decode_frame, encode_frame, ff45, ff46, request

from kkt_adapter.emulator import Emulator

STATUS = request(0x10, password=1)
ENQ, ACK, NAK = b"\x05", b"\x06", b"\x15"


def test_enq_while_idle_answers_nak(raw: RawClient) -> None:
    """ENQ with no pending answer gets NAK."""
    raw.write(ENQ)
    assert raw.read(1) == NAK


def test_status_frame_is_acked_and_answered(raw: RawClient) -> None:
    """A good frame gets ACK, then the answer frame with a correct LRC."""
    body = decode_frame(raw.command(STATUS))
    assert body[:2] == b"\x10\x00"
    assert len(body) == 16


def test_wire_example_from_the_reference(raw: RawClient) -> None:
    """The reference's 10h frame ``02 05 10 01 00 00 00 14`` is accepted as is."""
    raw.write(bytes.fromhex("0205100100000014"))
    assert raw.read(1) == ACK
    assert decode_frame(raw.read_frame())[0] == 0x10
    raw.write(ACK)


def test_bad_lrc_from_host_gets_nak_and_resend_works(raw: RawClient, emu: Emulator) -> None:
    """A frame with a wrong LRC is NAKed and not executed; the same frame with a good LRC then works."""
    good = encode_frame(request(0xE0))
    raw.write(good[:-1] + bytes([good[-1] ^ 0x55]))
    assert raw.read(1) == NAK
    assert emu.last_fd == 0
    raw.write(good)
    assert raw.read(1) == ACK
    assert decode_frame(raw.read_frame()) == b"\xe0\x00"
    raw.write(ACK)
    assert emu.last_fd == 1


def test_nak_then_enq_resends_without_reexecuting(raw: RawClient, emu: Emulator) -> None:
    """After the host NAKs an answer, ENQ gets ACK + the same answer; the command ran once."""
    raw.write(encode_frame(request(0xE0)))
    assert raw.read(1) == ACK
    first = raw.read_frame()
    raw.write(NAK + ENQ)
    assert raw.read(1) == ACK
    assert raw.read_frame() == first
    raw.write(ACK + ENQ)
    assert raw.read(1) == NAK
    assert emu.last_fd == 1
    assert emu.commands_executed == 1


def test_unacknowledged_answer_is_resent_on_enq(raw: RawClient) -> None:
    """A host that never ACKed the answer gets it again on ENQ."""
    raw.write(encode_frame(STATUS))
    assert raw.read(1) == ACK
    first = raw.read_frame()
    raw.write(ENQ)
    assert raw.read(1) == ACK
    assert raw.read_frame() == first
    raw.write(ACK)


def test_stray_bytes_are_skipped(raw: RawClient) -> None:
    """0xFF noise before ENQ and before a frame is ignored."""
    raw.write(b"\xff\xff" + ENQ)
    assert raw.read(1) == NAK
    raw.write(b"\xff" + encode_frame(STATUS))
    assert raw.read(1) == ACK
    assert decode_frame(raw.read_frame())[:2] == b"\x10\x00"
    raw.write(ACK)


def test_frame_then_enq_without_reading_ack_gets_one_answer(raw: RawClient) -> None:
    """A host that writes frame + ENQ at once reads ACK, one answer, and nothing else."""
    raw.write(encode_frame(STATUS) + ENQ)
    assert raw.read(1) == ACK
    assert decode_frame(raw.read_frame())[0] == 0x10
    raw.write(ACK)
    assert raw.read(1, timeout_s=0.3) == b""


def test_truncated_frame_gets_nak(raw: RawClient) -> None:
    """A frame cut short (byte timeout) is NAKed."""
    raw.write(encode_frame(STATUS)[:4])
    assert raw.read(1, timeout_s=1.0) == NAK


def test_corrupt_answer_fault_then_nak_enq_gets_good_answer(raw: RawClient, emu: Emulator) -> None:
    """The bad-LRC fault corrupts one answer; NAK + ENQ brings the correct one."""
    emu.corrupt_next_answer()
    raw.write(encode_frame(STATUS))
    assert raw.read(1) == ACK
    bad = raw.read_frame()
    raw.write(NAK + ENQ)
    assert raw.read(1) == ACK
    good = raw.read_frame()
    raw.write(ACK)
    assert bad[:-1] == good[:-1]
    assert bad[-1] != good[-1]
    assert decode_frame(good)[0] == 0x10


def test_lost_close_answer_is_not_resent(raw: RawClient, emu: Emulator) -> None:
    """After a lost close answer, ENQ gets NAK (idle); the receipt is in the FN all the same."""
    raw.command(request(0xE0))
    raw.command(request(0xFF46, ff46(100)))
    emu.lose_next_close_answer()
    raw.write(encode_frame(request(0xFF45, ff45(cash=100))))
    assert raw.read(1) == ACK
    assert raw.read(1, timeout_s=0.3) == b""
    raw.write(ENQ)
    assert raw.read(1) == NAK
    assert emu.last_fd == 2


def test_silence_ignores_everything_until_cleared(raw: RawClient, emu: Emulator) -> None:
    """In silence ENQ and frames get no reply; after clearing, ENQ gets NAK."""
    emu.set_silence(True)
    raw.write(ENQ + encode_frame(request(0xE0)))
    assert raw.read(1, timeout_s=0.3) == b""
    emu.set_silence(False)
    raw.write(ENQ)
    assert raw.read(1) == NAK
    assert emu.last_fd == 0


def test_port_reopens_many_times(emu: Emulator) -> None:
    """Clients can open and close the port repeatedly; each gets answers."""
    for _ in range(5):
        client = RawClient(emu.path)
        client.write(ENQ)
        assert client.read(1) == NAK
        client.close()


def test_port_vanishes_and_comes_back_on_a_new_pty(emu: Emulator) -> None:
    """vanish_port removes the symlink; after the delay it points to a new pty that answers."""
    # the delay runs from the request, not from the removal: it must outlast a slow emulator loop (a
    # full CI run once saw the port back, after 0.3 s, before this thread looked)
    emu.vanish_port(1.5)
    assert emu.wait_port(present=False, timeout_s=1)
    assert not Path(emu.path).exists()
    assert emu.wait_port(present=True, timeout_s=5)
    assert os.readlink(emu.path).startswith("/dev/pts/")
    client = RawClient(emu.path)
    client.write(ENQ)
    assert client.read(1) == NAK
    client.close()


def test_port_vanish_until_restore(emu: Emulator) -> None:
    """With no delay the port stays away until restore_port()."""
    emu.vanish_port(None)
    assert emu.wait_port(present=False, timeout_s=2)
    assert not emu.wait_port(present=True, timeout_s=0.2)
    emu.restore_port()
    assert emu.wait_port(present=True, timeout_s=2)


def test_open_client_sees_the_port_vanish(emu: Emulator) -> None:
    """A client holding the old pty gets an error or EOF when the port vanishes."""
    client = RawClient(emu.path)
    emu.vanish_port(None)
    assert emu.wait_port(present=False, timeout_s=2)
    try:
        client.write(ENQ)
        data = client.read(1, timeout_s=0.3)
    except OSError:
        data = b""
    assert data == b""
    client.close()


def test_baud_delay_paces_answers_at_the_client_speed(tmp_path: Path) -> None:
    """With baud pacing at 2400 baud a status round trip takes at least its wire time (≈ 125 ms)."""
    with Emulator(tmp_path / "kkt0", tmp_path / "kkt.json", baud_delay=True) as emu:
        client = RawClient(emu.path)
        attrs = termios.tcgetattr(client.fd)
        attrs[4] = attrs[5] = termios.B2400
        termios.tcsetattr(client.fd, termios.TCSANOW, attrs)
        assert emu.byte_time_s() == 10 / 2400
        started = time.monotonic()
        frame = client.command(STATUS)
        elapsed = time.monotonic() - started
        client.close()
    assert len(frame) == 19
    assert elapsed >= (19 + 8 + 3) * 10 / 2400 * 0.9


def test_print_delay_holds_the_answer_per_printed_line(tmp_path: Path) -> None:
    """With 5 ms per line a 20-line X report answers after at least 100 ms; a status does not wait."""
    with Emulator(tmp_path / "kkt0", tmp_path / "kkt.json", print_delay_ms=5) as emu:
        client = RawClient(emu.path)
        started = time.monotonic()
        client.command(STATUS)
        status_s = time.monotonic() - started
        started = time.monotonic()
        assert decode_frame(client.command(request(0x40)))[:2] == b"\x40\x00"
        report_s = time.monotonic() - started
        client.close()
    assert report_s >= 0.1
    assert status_s < 0.1
