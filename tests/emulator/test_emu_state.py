"""Persistence and run-time faults of the emulator, driven through ``execute_frame`` (no pty)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from emu_helpers import T0, ff45, ff46, request

from kkt_adapter.emulator import DeviceConfig, Emulator
from kkt_adapter.emulator.faults import Faults
from kkt_adapter.emulator.state import load_state, state_from_json, state_to_json


def _emulator(tmp_path: Path, **kwargs: object) -> Emulator:
    return Emulator(tmp_path / "kkt0", tmp_path / "kkt.json", clock=lambda: T0, **kwargs)  # type: ignore[arg-type]


def _sell(emu: Emulator, price: int = 500) -> bytes | None:
    assert emu.execute_frame(request(0xFF46, ff46(price))).answer == b"\xff\x46\x00"
    return emu.execute_frame(request(0xFF45, ff45(cash=price))).answer


def test_document_numbers_continue_after_restart(tmp_path: Path) -> None:
    """A new emulator on the same state file continues the FD numbers, shift and OFD queue."""
    first = _emulator(tmp_path)
    first.execute_frame(request(0xE0))
    _sell(first)
    second = _emulator(tmp_path)
    assert (second.last_fd, second.shift_number, second.shift_open, second.unsent_count) == (2, 1, True, 2)
    _sell(second)
    assert [doc.fd_number for doc in second.archive] == [1, 2, 3]


def test_state_file_is_replaced_atomically(tmp_path: Path) -> None:
    """After a change the state file is complete JSON and no temp file is left behind."""
    emu = _emulator(tmp_path)
    emu.execute_frame(request(0xE0))
    assert json.loads((tmp_path / "kkt.json").read_text())["last_fd"] == 1
    assert not list(tmp_path.glob("*.tmp"))


def test_state_json_round_trip_keeps_everything(tmp_path: Path) -> None:
    """Open receipt lines, tickets, config and clock offset survive serialization unchanged."""
    emu = _emulator(tmp_path, config=DeviceConfig(fn_serial="9999000000000042", sign_key="x"))
    emu.execute_frame(request(0xE0))
    emu.execute_frame(request(0xFF46, ff46(700)))
    emu.set_clock_offset(3600)
    emu.ofd_ack(1)
    state = load_state(tmp_path / "kkt.json")
    assert state is not None
    assert state_from_json(state_to_json(state)) == state
    assert state.config.fn_serial == "9999000000000042"
    assert state.receipt is not None
    assert state.receipt.total_kop == 700
    assert state.documents[0].ticket_at == T0 + timedelta(hours=1)
    assert state.clock_offset_s == 3600


def test_config_applies_only_to_a_new_state(tmp_path: Path) -> None:
    """An existing state file keeps its FN serial whatever config a later constructor passes."""
    _emulator(tmp_path, config=DeviceConfig(fn_serial="9999000000000001")).start().stop()
    again = _emulator(tmp_path, config=DeviceConfig(fn_serial="9999000000000002"))
    assert again.snapshot()["fn"]["serial"] == "9999000000000001"


def test_clock_offset_ages_the_shift(tmp_path: Path) -> None:
    """Advancing the device clock past 24 h puts an open shift into mode 3."""
    emu = _emulator(tmp_path)
    emu.execute_frame(request(0xE0))
    emu.advance_clock(24 * 3600 + 60)
    assert emu.now() == T0 + timedelta(hours=24, minutes=1)
    assert emu.mode == 3


def test_busy_answers_0x50_without_executing(tmp_path: Path) -> None:
    """``busy(2)``: the next two frames answer 0x50 and change nothing; the third executes."""
    emu = _emulator(tmp_path)
    emu.busy(2)
    assert emu.execute_frame(request(0xE0)).answer == b"\xe0\x50"
    assert emu.execute_frame(request(0xE0)).answer == b"\xe0\x50"
    assert emu.last_fd == 0
    assert emu.execute_frame(request(0xE0)).answer == b"\xe0\x00"
    assert emu.last_fd == 1


def test_lost_close_answer_signs_but_answers_nothing(tmp_path: Path) -> None:
    """One-shot: the close is executed and signed, the reply has no answer; the next close answers."""
    emu = _emulator(tmp_path)
    emu.execute_frame(request(0xE0))
    emu.lose_next_close_answer()
    assert _sell(emu) is None
    assert emu.last_fd == 2
    assert not emu.receipt_open
    assert _sell(emu) is not None


def test_lost_answer_waits_for_a_close_command(tmp_path: Path) -> None:
    """The lost-answer fault ignores non-close commands and a close that fails."""
    emu = _emulator(tmp_path)
    emu.lose_next_close_answer()
    assert emu.execute_frame(request(0xE0)).answer == b"\xe0\x00"
    emu.execute_frame(request(0xFF46, ff46(500)))
    assert emu.execute_frame(request(0xFF45, ff45(cash=1))).answer == b"\xff\x45\x45"
    assert emu.execute_frame(request(0xFF45, ff45(cash=500))).answer is None


def test_bad_lrc_fault_marks_only_the_next_answer(tmp_path: Path) -> None:
    """One-shot: exactly the next reply is flagged for a corrupt LRC."""
    emu = _emulator(tmp_path)
    emu.corrupt_next_answer()
    assert emu.execute_frame(request(0x10, password=1)).corrupt_lrc
    assert not emu.execute_frame(request(0x10, password=1)).corrupt_lrc


def test_print_delay_scales_with_printed_lines(tmp_path: Path) -> None:
    """The reply delay is printed lines × print_delay_ms; status commands print nothing."""
    emu = _emulator(tmp_path, print_delay_ms=10)
    assert emu.execute_frame(request(0x10, password=1)).delay_s == 0
    assert emu.execute_frame(request(0x29, b"\x02\x05")).delay_s == pytest.approx(0.05)


def test_unknown_fault_is_rejected_and_nothing_changes(tmp_path: Path) -> None:
    """A bad name or value raises ValueError and leaves every switch as it was."""
    emu = _emulator(tmp_path)
    with pytest.raises(ValueError, match="unknown fault"):
        emu.set_faults(paper_out=True, no_such=True)
    with pytest.raises(ValueError, match="0x14"):
        emu.set_faults(fn_block_code=0x16)
    assert emu.faults == Faults()


def test_paper_fault_sets_sub_mode_and_refuses_printing(tmp_path: Path) -> None:
    """``set_paper_out`` gives sub-mode 1 and 0x6B on printing; putting paper back gives sub-mode 0."""
    emu = _emulator(tmp_path)
    emu.set_paper_out(True)
    assert emu.sub_mode == 1
    assert emu.execute_frame(request(0xE0)).answer == b"\xe0\x6b"
    emu.set_paper_out(False)
    assert emu.sub_mode == 0


def test_snapshot_shows_queue_and_archive(tmp_path: Path) -> None:
    """The snapshot lists the archive with ticket flags and the unsent queue's head."""
    emu = _emulator(tmp_path)
    emu.execute_frame(request(0xE0))
    _sell(emu, 1234)
    assert emu.ofd_ack(1) == 1
    snap = emu.snapshot()
    assert snap["unsent"] == {"count": 1, "first_fd": 2, "first_at": datetime.isoformat(T0)}
    assert [d["ticket_received"] for d in snap["archive"]] == [True, False]
    assert snap["archive"][1]["sum_kop"] == 1234
    assert (snap["mode"], snap["sub_mode"], snap["shift"]["number"]) == (2, 0, 1)
