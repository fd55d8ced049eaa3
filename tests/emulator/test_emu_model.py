"""Pure tests of the emulated device's command layer and FN (no pty)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from emu_helpers import T0, close85, ff45, ff46, new_device, run, sale80

from kkt_adapter.emulator import fn
from kkt_adapter.emulator.faults import Faults
from kkt_adapter.emulator.model import Device
from kkt_adapter.emulator.state import DeviceConfig, new_state


def _open_shift(dev: Device) -> None:
    assert run(dev, 0xE0)[0] == 0


def _mode(dev: Device, now: datetime = T0) -> tuple[int, int]:
    err, data = run(dev, 0x10, now=now, password=1)
    assert err == 0
    return data[3], data[4]


def _sell(dev: Device, price: int = 8990, *, now: datetime = T0) -> bytes:
    assert run(dev, 0xFF46, ff46(price), now=now)[0] == 0
    err, data = run(dev, 0xFF45, ff45(cash=price), now=now)
    assert err == 0
    return data


def test_fresh_device_reports_shift_closed_and_idle_paper() -> None:
    """A new device is in mode 4 (shift closed), sub-mode 0, with the realistic idle flags 0x0292."""
    dev = new_device()
    err, data = run(dev, 0x10, password=1)
    assert err == 0
    assert data[0] == 1  # operator = password number
    assert int.from_bytes(data[1:3], "little") == 0x0292
    assert (data[3], data[4]) == (4, 0)
    assert len(data) == 14  # 15 answer bytes after the command code, error included


def test_unknown_command_answers_0x37_error_only() -> None:
    """An unknown command gets the error-only answer ``cmd 37``."""
    out = new_device().execute(bytes([0xFF, 0x38 + 0x40]) + b"\x1e\0\0\0", T0)
    assert out.answer == bytes([0xFF, 0x78, 0x37])


@pytest.mark.parametrize(("cmd", "password", "code"), [(0x10, 31, 0x4F), (0x10, 0, 0x4F), (0xFF01, 1, 0x4F)])
def test_wrong_password_answers_0x4f(cmd: int, password: int, code: int) -> None:
    """Passwords outside 1–30, and cashier passwords on admin commands, answer 0x4F."""
    assert run(new_device(), cmd, password=password)[0] == code


def test_open_shift_signs_document_type_2() -> None:
    """E0 opens shift 1 (mode 2) and signs FD 1 of type 2 carrying the shift number."""
    dev = new_device()
    _open_shift(dev)
    assert _mode(dev) == (2, 0)
    doc = dev.state.documents[0]
    assert (doc.fd_number, doc.doc_type, doc.shift_number) == (1, 2, 1)


def test_ff46_ff45_receipt_returns_change_fd_sign_and_datetime() -> None:
    """FF45 closes the receipt: change from cash, the new FD number, its fiscal sign, FN date-time."""
    dev = new_device()
    _open_shift(dev)
    assert run(dev, 0xFF46, ff46(8990, 2_000_000))[0] == 0
    assert _mode(dev) == (8, 0)
    err, data = run(dev, 0xFF45, ff45(cash=20000))
    assert err == 0
    doc = dev.state.documents[-1]
    assert int.from_bytes(data[0:5], "little") == 20000 - 17980
    assert int.from_bytes(data[5:9], "little") == doc.fd_number == 2
    assert int.from_bytes(data[9:13], "little") == doc.fiscal_sign
    assert data[13:18] == bytes([26, 3, 2, 9, 0])
    assert (doc.doc_type, doc.operation, doc.sum_kop) == (3, 1, 17980)


@pytest.mark.parametrize("tail", [b"", b"\x00" * 40, "Спасибо".encode("cp1251").ljust(64, b"\x00")])
def test_ff45_accepts_any_text_tail(tail: bytes) -> None:
    """FF45 parses by LEN: no text, 40 NUL-padded bytes and 64 bytes all work."""
    dev = new_device()
    _open_shift(dev)
    run(dev, 0xFF46, ff46(100))
    assert run(dev, 0xFF45, ff45(cash=100, text=tail))[0] == 0


def test_ff46_rejects_sum_that_is_not_price_times_quantity() -> None:
    """A given FF46 sum more than 1 kopeck off price×qty answers 0x33; within 1 kopeck is accepted."""
    dev = new_device()
    _open_shift(dev)
    assert run(dev, 0xFF46, ff46(333, 1_500_000, total=600))[0] == 0x33
    assert run(dev, 0xFF46, ff46(333, 1_500_000, total=499))[0] == 0
    assert dev.state.receipt is not None
    assert dev.state.receipt.total_kop == 499


def test_ff46_rejects_unknown_tax_byte() -> None:
    """A tax-rate byte outside the table answers 0x33 and adds no line."""
    dev = new_device()
    _open_shift(dev)
    assert run(dev, 0xFF46, ff46(100, tax=0))[0] == 0x33
    assert dev.state.receipt is None


def test_close_with_payments_less_than_total_answers_0x45() -> None:
    """Payments below the total answer 0x45 and nothing is signed."""
    dev = new_device()
    _open_shift(dev)
    run(dev, 0xFF46, ff46(1000))
    assert run(dev, 0xFF45, ff45(cash=999))[0] == 0x45
    assert dev.state.last_fd == 1


def test_change_only_from_cash() -> None:
    """A non-cash payment larger than the total answers 0x4D; cash overpayment gives change."""
    dev = new_device()
    _open_shift(dev)
    run(dev, 0xFF46, ff46(1000))
    assert run(dev, 0xFF45, ff45(card=1500))[0] == 0x4D
    err, data = run(dev, 0xFF45, ff45(cash=600, card=500))
    assert (err, int.from_bytes(data[0:5], "little")) == (0, 100)


def test_legacy_sale_and_close_in_one_receipt() -> None:
    """80h (auto-opening a sale receipt) and 85h close it with change; 8Dh then 80h also works."""
    dev = new_device()
    _open_shift(dev)
    assert run(dev, 0x80, sale80(4550, 2000), password=1)[0] == 0
    err, data = run(dev, 0x85, close85(10000), password=1)
    assert (err, data[0], int.from_bytes(data[1:6], "little")) == (0, 1, 900)
    assert dev.state.documents[-1].sum_kop == 9100


def test_cancel_drops_open_receipt_without_signing() -> None:
    """88h cancels the open receipt: back to mode 2, no FD; 88h without a receipt answers 0x55."""
    dev = new_device()
    _open_shift(dev)
    run(dev, 0x8D, b"\x00")
    run(dev, 0xFF46, ff46(100))
    assert run(dev, 0x88)[0] == 0
    assert _mode(dev) == (2, 0)
    assert dev.state.last_fd == 1
    assert run(dev, 0x88)[0] == 0x55


def test_shift_older_than_24h_is_mode_3_and_refuses_fiscal_commands() -> None:
    """After 24 h the mode is 3, receipts and E0 answer 0x4E, X and Z still work and Z closes it."""
    dev = new_device()
    _open_shift(dev)
    later = T0 + timedelta(hours=24, minutes=1)
    assert _mode(dev, later) == (3, 0)
    assert run(dev, 0x8D, b"\x00", now=later)[0] == 0x4E
    assert run(dev, 0xFF46, ff46(100), now=later)[0] == 0x4E
    assert run(dev, 0xE0, now=later)[0] == 0x4E
    assert run(dev, 0x40, now=later)[0] == 0
    assert run(dev, 0x41, now=later)[0] == 0
    assert _mode(dev, later) == (4, 0)
    assert dev.state.documents[-1].doc_type == 5


def test_shift_of_exactly_24h_is_still_open() -> None:
    """At exactly 24 h the shift is still in mode 2."""
    dev = new_device()
    _open_shift(dev)
    assert _mode(dev, T0 + timedelta(hours=24)) == (2, 0)


@pytest.mark.parametrize("code", [0x15, 0x14])
def test_30_day_block_refuses_fiscal_documents(code: int) -> None:
    """An unconfirmed document older than 30 days blocks E0/8D/FF46/FF45 with the configured FN code."""
    faults = Faults(fn_block_code=code)
    dev = new_device(faults=faults)
    _open_shift(dev)
    _sell(dev)
    later = T0 + timedelta(days=30, minutes=1)
    assert not fn.is_blocked(dev.state, T0 + timedelta(days=30))
    assert run(dev, 0x8D, b"\x00", now=later)[0] == code
    assert run(dev, 0xFF46, ff46(100), now=later)[0] == code
    assert run(dev, 0xFF38, now=later)[0] == code
    assert run(dev, 0x41, now=later)[0] == 0  # Z stays possible
    assert run(dev, 0xE0, now=later)[0] == code
    assert dev.state.last_fd == 3


def test_ofd_confirmation_lifts_the_30_day_block() -> None:
    """Confirming the old documents clears the block; the queue then starts at the next FD."""
    dev = new_device()
    _open_shift(dev)
    _sell(dev)
    later = T0 + timedelta(days=31)
    assert fn.confirm_up_to(dev.state, 2, later) == 2
    assert not fn.is_blocked(dev.state, later)
    assert run(dev, 0x41, now=later)[0] == 0
    assert run(dev, 0xE0, now=later)[0] == 0


def test_exchange_status_reports_first_unsent_document() -> None:
    """FF39 gives the count, first FD and its date; FF3F the same count; empty queue gives zeros."""
    dev = new_device()
    _open_shift(dev)
    _sell(dev, now=T0 + timedelta(minutes=5))
    err, data = run(dev, 0xFF39)
    assert err == 0
    assert (data[0], int.from_bytes(data[2:4], "little"), int.from_bytes(data[4:8], "little")) == (2, 2, 1)
    assert data[8:13] == bytes([26, 3, 2, 9, 0])
    assert run(dev, 0xFF3F)[1] == (2).to_bytes(2, "little")
    fn.confirm_up_to(dev.state, 1, T0)
    assert int.from_bytes(run(dev, 0xFF39)[1][4:8], "little") == 2
    fn.confirm_up_to(dev.state, 2, T0)
    assert run(dev, 0xFF39)[1] == b"\x00" * 13


def test_find_document_by_number() -> None:
    """FF0A returns type, ticket flag, date, FD, sign and the receipt's operation and sum; 0x08 if absent."""
    dev = new_device()
    _open_shift(dev)
    _sell(dev, 8990)
    err, data = run(dev, 0xFF0A, (2).to_bytes(4, "little"))
    doc = dev.state.documents[1]
    assert err == 0
    assert data[0:2] == bytes([3, 0])
    assert int.from_bytes(data[7:11], "little") == 2
    assert int.from_bytes(data[11:15], "little") == doc.fiscal_sign
    assert data[15] == 1
    assert int.from_bytes(data[16:21], "little") == 8990
    shift = run(dev, 0xFF0A, (1).to_bytes(4, "little"))[1]
    assert shift[0] == 2
    assert int.from_bytes(shift[15:17], "little") == 1
    assert run(dev, 0xFF0A, (3).to_bytes(4, "little"))[0] == 0x08


def test_fiscal_sign_is_deterministic_and_keyed() -> None:
    """The same document gives the same sign; another key, FD number or sum gives another."""
    sign = fn.fiscal_sign("k", "9999078900012345", 7, T0, 100)
    assert sign == fn.fiscal_sign("k", "9999078900012345", 7, T0, 100)
    assert sign != fn.fiscal_sign("k2", "9999078900012345", 7, T0, 100)
    assert sign != fn.fiscal_sign("k", "9999078900012345", 8, T0, 100)
    assert sign != fn.fiscal_sign("k", "9999078900012345", 7, T0, 101)
    assert 0 <= sign < 2**32


def test_two_devices_with_same_config_sign_identically() -> None:
    """Two fresh devices fed the same commands produce the same fiscal signs."""
    first, second = new_device(), new_device()
    for dev in (first, second):
        _open_shift(dev)
        _sell(dev)
    assert [d.fiscal_sign for d in first.state.documents] == [d.fiscal_sign for d in second.state.documents]


def test_fn_expiry_and_warning_bits() -> None:
    """FF03 gives the configured expiry; FF01 sets bit 1 within 30 days and bit 0 within 3 days."""
    state = new_state(DeviceConfig(fn_expires_on=(T0 + timedelta(days=20)).date()), T0)
    dev = new_device()
    dev.state = state
    assert run(dev, 0xFF03)[1][0:3] == bytes([26, 3, 22])
    assert run(dev, 0xFF01)[1][4] & 0x03 == 0x02
    assert run(dev, 0xFF01, now=T0 + timedelta(days=18))[1][4] & 0x03 == 0x03


def test_paper_out_refuses_before_signing() -> None:
    """With paper out: sub-mode 1, FF46/FF45/8D/17h answer 0x6B and nothing is signed."""
    faults = Faults()
    dev = new_device(faults=faults)
    _open_shift(dev)
    run(dev, 0xFF46, ff46(100))
    faults.paper_out = True
    assert _mode(dev)[1] == 1
    assert run(dev, 0xFF46, ff46(100))[0] == 0x6B
    assert run(dev, 0xFF45, ff45(cash=100))[0] == 0x6B
    assert run(dev, 0x17, b"\x02" + b"x" * 40)[0] == 0x6B
    assert dev.state.last_fd == 1
    faults.paper_out = False
    assert run(dev, 0xFF45, ff45(cash=100))[0] == 0


def test_paper_runs_out_after_signing_then_continue_printing() -> None:
    """One-shot: FF45 signs then answers 0x6B (sub-mode 2); paper back → sub-mode 3, 0x58 until B0."""
    faults = Faults(paper_out_after_sign=True)
    dev = new_device(faults=faults)
    _open_shift(dev)
    run(dev, 0xFF46, ff46(100))
    assert run(dev, 0xFF45, ff45(cash=100))[0] == 0x6B
    assert dev.state.last_fd == 2
    assert dev.state.receipt is None
    assert not faults.paper_out_after_sign
    assert _mode(dev) == (2, 2)
    faults.paper_out = False
    assert _mode(dev) == (2, 3)
    assert run(dev, 0x8D, b"\x00")[0] == 0x58
    assert run(dev, 0xB0)[0] == 0
    assert _mode(dev) == (2, 0)
    assert run(dev, 0x8D, b"\x00")[0] == 0


def test_return_receipt_reports_its_type_in_the_mode_high_nibble() -> None:
    """An FF46 income return (op 2) opens a sale-return receipt: mode byte 0x28; its FD has operation 2."""
    dev = new_device()
    _open_shift(dev)
    _sell(dev, 1000)
    assert run(dev, 0xFF46, ff46(300, op=2))[0] == 0
    assert run(dev, 0x10, password=1)[1][3] == 0x28
    assert run(dev, 0xFF46, ff46(300, op=1))[0] == 0x49  # a sale line in a return receipt
    assert run(dev, 0xFF45, ff45(cash=300))[0] == 0
    assert dev.state.documents[-1].operation == 2
    assert dev.state.cash_kop == 700


def test_fn_cancel_drops_the_open_receipt() -> None:
    """FF08 drops the open receipt without a document and is harmless with none open."""
    dev = new_device()
    _open_shift(dev)
    run(dev, 0xFF46, ff46(100))
    assert run(dev, 0xFF08)[0] == 0
    assert dev.state.receipt is None
    assert run(dev, 0xFF08)[0] == 0
    assert dev.state.last_fd == 1


def test_ofd_ticket_only_after_confirmation() -> None:
    """FF3C answers FN 0x08 until the document is confirmed, then the ticket naming its FD."""
    dev = new_device()
    _open_shift(dev)
    assert run(dev, 0xFF3C, (1).to_bytes(4, "little"))[0] == 0x08
    fn.confirm_up_to(dev.state, 1, T0)
    err, ticket = run(dev, 0xFF3C, (1).to_bytes(4, "little"))
    assert err == 0
    assert int.from_bytes(ticket[5:9], "little") == 1


def test_fn_serial_and_shift_params() -> None:
    """FF02 gives the 16-character FN serial; FF40 the shift number and the next receipt number."""
    dev = new_device()
    assert run(dev, 0xFF02)[1] == b"9999078900012345"
    _open_shift(dev)
    _sell(dev)
    assert run(dev, 0xFF40)[1] == bytes([1]) + (1).to_bytes(2, "little") + (2).to_bytes(2, "little")


def test_registration_totals_give_inn_and_registration_number() -> None:
    """FF09 gives the registration date-time, the INN and the registration number in ASCII fields."""
    err, data = run(new_device(), 0xFF09)
    assert err == 0
    assert data[0:5] == bytes([26, 3, 2, 9, 0])
    assert data[5:17] == b"7700000001  "
    assert data[17:37] == b"0000000001012345    "
    assert data[37] == 1


def test_cash_in_and_out_track_the_drawer() -> None:
    """50h adds cash, 51h takes it out and answers 0x46 when the drawer holds less."""
    dev = new_device()
    _open_shift(dev)
    err, data = run(dev, 0x50, (5000).to_bytes(5, "little"), password=1)
    assert err == 0
    assert data[0] == 1
    assert run(dev, 0x51, (6000).to_bytes(5, "little"), password=1)[0] == 0x46
    assert run(dev, 0x51, (5000).to_bytes(5, "little"), password=1)[0] == 0
    assert dev.state.cash_kop == 0
    assert dev.state.last_fd == 1  # cash in/out are not FN documents


def test_commands_refused_in_the_wrong_mode() -> None:
    """E0 with the shift open and Z with it closed answer 0x73; closing without a receipt 0x55."""
    dev = new_device()
    assert run(dev, 0x41)[0] == 0x73
    _open_shift(dev)
    assert run(dev, 0xE0)[0] == 0x73
    assert run(dev, 0xFF45, ff45(cash=1))[0] == 0x55
    assert run(dev, 0x8D, b"\x07")[0] == 0x33


def test_short_request_answers_0x33() -> None:
    """A request shorter than its fixed fields answers 0x33 instead of crashing."""
    dev = new_device()
    _open_shift(dev)
    assert run(dev, 0xFF46, b"\x01\x00")[0] == 0x33
    assert run(dev, 0xFF45, b"\x00" * 20)[0] == 0x33
