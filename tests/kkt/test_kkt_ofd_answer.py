"""Writing the OFD's ticket into the FN: FF32/FF33 frames, the container, and the driver against the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kkt_adapter.emulator import Emulator
from kkt_adapter.kkt.driver import ShtrihDriver
from kkt_adapter.kkt.errors import DeviceRejected, ProtocolError
from kkt_adapter.kkt.link_config import LinkPolicy
from kkt_adapter.kkt.protocol import answers, commands
from kkt_adapter.kkt.protocol.frame import encode_frame

POLICY = LinkPolicy(
    byte_timeout_s=0.2,
    enq_timeout_s=0.5,
    ack_timeout_s=0.5,
    answer_default_s=1.0,
    answer_timeouts_s={},
    busy_delay_s=0.02,
    busy_retries=5,
)


def test_ff32_frame() -> None:
    """FF32 is ``STX LEN FF 32 pwd(4 LE) size(2 LE) LRC``."""
    body = commands.ofd_answer_begin(30, 0x0119)
    assert body == bytes.fromhex("ff32 1e000000 1901")
    frame = encode_frame(body)
    assert frame[:2] == b"\x02\x08"
    assert frame[2:-1] == body


def test_ff33_frame() -> None:
    """FF33 is ``FF 33 pwd(4 LE) offset(2 LE) len(1) data``."""
    assert commands.ofd_answer_block(30, 32, b"abc") == bytes.fromhex("ff33 1e000000 2000 03") + b"abc"


def test_ff33_block_bounds() -> None:
    """An FF33 block holds 1…246 bytes (a frame body is at most 255 bytes)."""
    assert len(encode_frame(commands.ofd_answer_block(30, 0, b"x" * 246))) == 258
    with pytest.raises(ProtocolError):
        commands.ofd_answer_block(30, 0, b"")
    with pytest.raises(ProtocolError):
        commands.ofd_answer_block(30, 0, b"x" * 247)


def test_container_is_fd_then_ascii_ticket() -> None:
    """The container is ``fd_number(4 LE)`` followed by the ticket's ASCII bytes."""
    assert commands.ofd_answer_container(0x01020304, "TAB1") == b"\x04\x03\x02\x01TAB1"


@pytest.mark.parametrize("ticket", ["", "x" * 65, "квитанция", "T\n1"])
def test_container_refuses_tickets_that_do_not_fit(ticket: str) -> None:
    """An empty, too long (> 64), non-ASCII or non-printable ticket raises ProtocolError."""
    with pytest.raises(ProtocolError):
        commands.ofd_answer_container(1, ticket)


def test_blocks_cut_in_order() -> None:
    """The container is cut into ``(offset, chunk)`` pieces of at most the FN's block size."""
    assert commands.ofd_answer_blocks(b"abcdefg", 3) == [(0, b"abc"), (3, b"def"), (6, b"g")]
    assert commands.ofd_answer_blocks(b"ab", 32) == [(0, b"ab")]


def test_ff32_answer_decodes_block_size() -> None:
    """FF32's answer data is the block size; a missing or zero size is a protocol error."""
    assert answers.decode_ofd_answer_begin(b"\x20") == 32
    with pytest.raises(ProtocolError):
        answers.decode_ofd_answer_begin(b"")
    with pytest.raises(ProtocolError):
        answers.decode_ofd_answer_begin(b"\x00")


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    with Emulator(tmp_path / "kkt0", tmp_path / "kkt.json") as emulator:
        yield emulator


@pytest.fixture
def driver(emu: Emulator) -> Iterator[ShtrihDriver]:
    drv = ShtrihDriver(emu.path, policy=POLICY)
    drv.connect()
    yield drv
    drv.close()


def test_driver_writes_ticket_and_fn_queue_drains(emu: Emulator, driver: ShtrihDriver) -> None:
    """After write_ofd_ticket the FN reports the document confirmed and its unsent queue empty."""
    driver.open_shift()
    assert driver.unconfirmed_count() == 1
    driver.write_ofd_ticket(1, "T" + "0123456789" * 6)  # 61 characters: 65 bytes, three FF33 blocks
    assert driver.unconfirmed_count() == 0
    assert driver.exchange_status().unsent_count == 0
    assert driver.find_document(1).ticket_received
    assert emu.archive[0].ofd_ticket == "T" + "0123456789" * 6


def test_driver_surfaces_fn_refusals(driver: ShtrihDriver) -> None:
    """A second ticket for the same FD (0x02) and one for an unknown FD (0x08) raise DeviceRejected."""
    driver.open_shift()
    driver.write_ofd_ticket(1, "T1")
    with pytest.raises(DeviceRejected) as again:
        driver.write_ofd_ticket(1, "T1")
    assert again.value.code == 0x02
    with pytest.raises(DeviceRejected) as unknown:
        driver.write_ofd_ticket(99, "T99")
    assert unknown.value.code == 0x08


def test_driver_refuses_bad_ticket_before_sending(emu: Emulator, driver: ShtrihDriver) -> None:
    """A ticket that does not fit raises ProtocolError and sends no command."""
    before = emu.commands_executed
    with pytest.raises(ProtocolError):
        driver.write_ofd_ticket(1, "x" * 65)
    assert emu.commands_executed == before
