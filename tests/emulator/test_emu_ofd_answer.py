"""FF32/FF33: the host writes the OFD's ticket into the emulated FN and the document leaves the unsent queue."""

from __future__ import annotations

from pathlib import Path

from emu_helpers import T0, RawClient, decode_frame, new_device, request, run

from kkt_adapter.emulator import Emulator
from kkt_adapter.emulator.model import Device
from kkt_adapter.emulator.state import load_state

FN_BAD_FORMAT, FN_WRONG_STATE, FN_NO_DATA = 0x01, 0x02, 0x08


def _container(fd_number: int, ticket: bytes) -> bytes:
    return fd_number.to_bytes(4, "little") + ticket


def _begin(dev: Device, size: int) -> tuple[int, bytes]:
    return run(dev, 0xFF32, size.to_bytes(2, "little"))


def _block(dev: Device, offset: int, data: bytes, length: int | None = None) -> int:
    head = offset.to_bytes(2, "little") + bytes([len(data) if length is None else length])
    return run(dev, 0xFF33, head + data)[0]


def _write(dev: Device, answer: bytes) -> int:
    """FF32, then FF33 blocks of the announced size; the error of the last command."""
    err, data = _begin(dev, len(answer))
    if err:
        return err
    size = data[0]
    for offset in range(0, len(answer), size):
        err = _block(dev, offset, answer[offset : offset + size])
        if err:
            return err
    return 0


def _with_shift() -> Device:
    dev = new_device()
    assert run(dev, 0xE0, password=1)[0] == 0  # FD 1: the shift-open report
    return dev


def test_ff32_answers_the_block_size() -> None:
    """FF32 with a valid size answers the block size (32) the host must use for FF33."""
    assert _begin(_with_shift(), 25) == (0, bytes([32]))


def test_written_ticket_confirms_the_document() -> None:
    """The completed answer confirms the FD: FF3F counts one less, FF0A shows the ticket flag, FF3C answers."""
    dev = _with_shift()
    assert run(dev, 0xFF3F)[1] == (1).to_bytes(2, "little")
    assert _write(dev, _container(1, b"T0123456789ABCDEF0123")) == 0
    assert run(dev, 0xFF3F)[1] == (0).to_bytes(2, "little")
    assert run(dev, 0xFF39)[1] == b"\x00" * 13
    assert run(dev, 0xFF0A, (1).to_bytes(4, "little"))[1][1] == 1
    assert run(dev, 0xFF3C, (1).to_bytes(4, "little"))[0] == 0
    assert dev.state.documents[0].ofd_ticket == "T0123456789ABCDEF0123"


def test_long_ticket_arrives_in_several_blocks() -> None:
    """A 64-character ticket takes three FF33 blocks and is stored whole; nothing is applied before the last."""
    dev = _with_shift()
    ticket = bytes(range(0x30, 0x70))  # 64 printable characters
    answer = _container(1, ticket)
    assert _begin(dev, len(answer)) == (0, bytes([32]))
    assert _block(dev, 0, answer[:32]) == 0
    assert _block(dev, 32, answer[32:64]) == 0
    assert dev.state.documents[0].ticket_at is None
    assert _block(dev, 64, answer[64:]) == 0
    assert dev.state.documents[0].ofd_ticket == ticket.decode()
    assert dev.state.documents[0].ticket_at == T0


def test_repeated_block_is_harmless() -> None:
    """A block written again (the host retried it) leaves the answer intact."""
    dev = _with_shift()
    answer = _container(1, b"X" * 40)
    _begin(dev, len(answer))
    assert _block(dev, 0, answer[:32]) == 0
    assert _block(dev, 0, answer[:32]) == 0
    assert _block(dev, 32, answer[32:]) == 0
    assert dev.state.documents[0].ofd_ticket == "X" * 40


def test_unknown_fd_is_no_data() -> None:
    """An answer for an FD the archive does not have is refused with FN 0x08 and changes nothing."""
    dev = _with_shift()
    assert _write(dev, _container(7, b"T1")) == FN_NO_DATA
    assert dev.state.unconfirmed()[0].fd_number == 1


def test_already_confirmed_fd_is_wrong_state() -> None:
    """A second answer for a confirmed FD is refused with FN 0x02; the first ticket stays."""
    dev = _with_shift()
    assert _write(dev, _container(1, b"FIRST")) == 0
    assert _write(dev, _container(1, b"SECOND")) == FN_WRONG_STATE
    assert dev.state.documents[0].ofd_ticket == "FIRST"


def test_block_without_ff32_is_wrong_state() -> None:
    """FF33 with no answer started is refused with FN 0x02."""
    assert _block(_with_shift(), 0, b"\x01\x00\x00\x00T") == FN_WRONG_STATE


def test_malformed_requests_are_bad_format() -> None:
    """Bad sizes, gaps, overruns, length mismatches and short requests answer FN 0x01."""
    dev = _with_shift()
    assert _begin(dev, 4)[0] == FN_BAD_FORMAT  # no ticket
    assert _begin(dev, 69)[0] == FN_BAD_FORMAT  # ticket > 64 bytes
    assert run(dev, 0xFF32, b"\x05")[0] == FN_BAD_FORMAT  # short request
    assert _begin(dev, 10)[0] == 0
    assert _block(dev, 2, b"abc") == FN_BAD_FORMAT  # a gap before the block
    assert _block(dev, 8, b"abc") == FN_BAD_FORMAT  # beyond the announced size
    assert _block(dev, 0, b"abc", length=4) == FN_BAD_FORMAT  # len byte ≠ data
    assert _block(dev, 0, b"") == FN_BAD_FORMAT  # empty block
    assert dev.state.unconfirmed()[0].fd_number == 1


def test_non_ascii_ticket_is_bad_format() -> None:
    """A container whose ticket is not printable ASCII is refused with FN 0x01 and the FD stays unsent."""
    dev = _with_shift()
    assert _write(dev, _container(1, "Т1".encode("cp1251"))) == FN_BAD_FORMAT
    assert _write(dev, _container(1, b"T\x001")) == FN_BAD_FORMAT
    assert len(dev.state.unconfirmed()) == 1


def test_ff32_needs_an_admin_password() -> None:
    """FF32 with a cashier's password is refused (0x4F), like the other FN commands."""
    dev = _with_shift()
    assert dev.execute(request(0xFF32, (10).to_bytes(2, "little"), password=1), T0).error == 0x4F


def test_written_ticket_is_persisted_over_the_pty(emu: Emulator, raw: RawClient, tmp_path: Path) -> None:
    """Over the real pty, FF32/FF33 confirm the document and the state file records the ticket."""
    raw.command(request(0xE0, password=1))
    answer = _container(1, b"T42")
    begin = decode_frame(raw.command(request(0xFF32, len(answer).to_bytes(2, "little"))))
    assert begin == b"\xff\x32\x00\x20"
    block = decode_frame(raw.command(request(0xFF33, b"\x00\x00" + bytes([len(answer)]) + answer)))
    assert block == b"\xff\x33\x00"
    assert emu.unsent_count == 0
    stored = load_state(tmp_path / "kkt.json")
    assert stored is not None
    assert stored.documents[0].ofd_ticket == "T42"
