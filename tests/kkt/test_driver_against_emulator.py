"""Our driver against the emulator over a real pty: a full day, then every injected fault ending in a
defined error of the error tree (never a hang)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import pytest
from kkt_emu import EMU_POLICY, connected

from kkt_adapter.emulator import Emulator
from kkt_adapter.kkt.driver import ShtrihDriver
from kkt_adapter.kkt.errors import (
    DeviceRejected,
    DeviceStateError,
    LinkTimeout,
    OutcomeUnknown,
    PortGone,
)
from kkt_adapter.kkt.types import Mode, SubMode
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem

DAY_S = 24 * 3600


def sale(*lines: tuple[str, int, str, int], cash: int = 0, card: int = 0, operation: str = "sell") -> ReceiptIn:
    items = [
        {"name": name, "price_kop": price, "quantity": qty, "amount_kop": amount, "vat": "vat22"}
        for name, price, qty, amount in lines
    ]
    payments = [{"type": t, "amount_kop": a} for t, a in (("cash", cash), ("electronic", card)) if a]
    total = sum(amount for *_, amount in lines)
    return ReceiptIn.model_validate({"operation": operation, "items": items, "payments": payments, "total_kop": total})


def with_cashier(receipt: ReceiptIn) -> ReceiptIn:
    body = receipt.model_dump(mode="json") | {"cashier": {"name": "Иванова"}, "customer_contact": "+79001234567"}
    return ReceiptIn.model_validate(body)


MILK = ("Молоко 3,2%", 8990, "1", 8990)
BREAD = ("Хлеб", 4550, "2", 9100)
CHEESE = ("Сыр весовой", 120000, "0.355", 42600)


@pytest.fixture
def driver(emu: Emulator) -> Iterator[ShtrihDriver]:
    kkt = connected(emu)
    yield kkt
    kkt.close()


@pytest.fixture
def open_shift(driver: ShtrihDriver) -> ShtrihDriver:
    driver.open_shift()
    return driver


def test_a_full_day(emu: Emulator, driver: ShtrihDriver) -> None:
    """Shift open, three receipts, a cancelled one, X report, FN queries, OFD confirmation, Z report."""
    assert driver.status().mode is Mode.SHIFT_CLOSED
    driver.open_shift()
    assert driver.status().mode is Mode.SHIFT_OPEN
    results = [
        driver.fiscalize(sale(MILK, cash=10000), TaxSystem.OSN),
        driver.fiscalize(sale(MILK, BREAD, CHEESE, cash=5000, card=55690), TaxSystem.USN_INCOME),
        driver.fiscalize(with_cashier(sale(BREAD, card=9100, operation="sell_return")), TaxSystem.OSN),
    ]
    assert [r.fd_number for r in results] == [emu.last_fd - 2, emu.last_fd - 1, emu.last_fd]
    assert [r.receipt_number for r in results] == [1, 2, 3]
    assert {r.shift_number for r in results} == {emu.shift_number}
    assert results[0].change_kop == 1010
    archive = {doc.fd_number: doc for doc in emu.archive}
    for result, (operation, total) in zip(results, [(1, 8990), (1, 60690), (2, 9100)], strict=True):
        doc = driver.find_document(result.fd_number)
        assert (doc.doc_type, doc.operation, doc.sum_kop) == (3, operation, total)
        assert doc.fiscal_sign == result.fiscal_sign == archive[result.fd_number].fiscal_sign
        assert doc.doc_datetime == result.fiscal_datetime

    bad_line = ("Брак", 1000, "1", 5000)  # amount ≠ price × quantity: the device refuses the line
    with pytest.raises(DeviceRejected):
        driver.fiscalize(sale(bad_line, cash=5000), TaxSystem.OSN)
    assert emu.receipt_open
    driver.cancel_receipt()
    assert not emu.receipt_open

    driver.x_report()
    fn = driver.fn_status()
    assert (fn.last_fd_number, fn.shift_open) == (emu.last_fd, True)
    assert driver.exchange_status().unsent_count == emu.unsent_count == 4
    assert driver.unconfirmed_count() == 4
    assert driver.fn_expiry().expires_on > fn.fn_datetime.date()
    emu.ofd_ack()
    assert driver.exchange_status().unsent_count == 0
    assert driver.find_document(results[0].fd_number).ticket_received
    assert driver.ofd_ticket(results[0].fd_number)
    report = driver.settlement_report()
    assert (report.fd_number, report.unconfirmed_count) == (emu.last_fd, 0)
    driver.z_report()
    assert driver.status().mode is Mode.SHIFT_CLOSED
    assert not driver.shift_params().is_open


def test_connect_reads_the_identity(emu: Emulator) -> None:
    """connect() returns the emulated model, serial, FN serial and INN."""
    kkt = ShtrihDriver(emu.path, policy=EMU_POLICY)
    info = kkt.connect()
    kkt.close()
    assert info.fn_serial == "9999078900012345"
    assert info.serial == "12345678"
    assert info.inn == "7700000001"
    assert info.model_name


def test_paper_out_before_the_receipt_is_a_state_error(emu: Emulator, open_shift: ShtrihDriver) -> None:
    """With no paper the receipt is refused up front (6Bh, a state error); with paper it goes through."""
    emu.set_paper_out(True)
    assert not open_shift.status().paper_present
    before = emu.last_fd
    with pytest.raises(DeviceStateError) as caught:
        open_shift.fiscalize(sale(MILK, cash=8990), TaxSystem.OSN)
    assert caught.value.code == 0x6B
    assert emu.last_fd == before
    emu.set_paper_out(False)
    assert open_shift.fiscalize(sale(MILK, cash=8990), TaxSystem.OSN).fd_number == before + 1


def test_paper_out_after_signing_is_outcome_unknown_and_the_fn_has_it(emu: Emulator, open_shift: ShtrihDriver) -> None:
    """Paper running out after the FN signed gives OutcomeUnknown; the FN shows the receipt; B0 finishes."""
    emu.paper_out_after_next_close()
    before = emu.last_fd
    with pytest.raises(OutcomeUnknown) as caught:
        open_shift.fiscalize(sale(MILK, cash=8990), TaxSystem.OSN)
    assert isinstance(caught.value.cause, DeviceStateError)
    assert open_shift.fn_status().last_fd_number == before + 1
    assert open_shift.find_document(before + 1).sum_kop == 8990
    emu.set_paper_out(False)
    assert open_shift.status().sub_mode is SubMode.WAIT_CONTINUE
    open_shift.continue_printing()
    assert open_shift.status().sub_mode is SubMode.PAPER_OK


def test_lost_close_answer_is_outcome_unknown_and_signed_once(emu: Emulator, open_shift: ShtrihDriver) -> None:
    """A close whose answer is lost gives OutcomeUnknown(LinkTimeout); the FN signed exactly once."""
    emu.lose_next_close_answer()
    before = emu.last_fd
    with pytest.raises(OutcomeUnknown) as caught:
        open_shift.fiscalize(sale(MILK, cash=8990), TaxSystem.OSN)
    assert isinstance(caught.value.cause, LinkTimeout)
    assert emu.last_fd == before + 1
    assert open_shift.fn_status().last_fd_number == before + 1


def test_bad_lrc_on_an_answer_is_repaired_without_reexecution(emu: Emulator, open_shift: ShtrihDriver) -> None:
    """A corrupted answer is fetched again; the receipt is signed once."""
    before = emu.last_fd
    emu.corrupt_next_answer()
    assert open_shift.fiscalize(sale(MILK, BREAD, cash=18090), TaxSystem.OSN).fd_number == before + 1
    assert emu.last_fd == before + 1


def test_busy_device_is_waited_for(emu: Emulator, open_shift: ShtrihDriver) -> None:
    """Three 50h answers in a row are retried and the receipt goes through once."""
    before = emu.last_fd
    emu.busy(3)
    assert open_shift.fiscalize(sale(MILK, cash=8990), TaxSystem.OSN).fd_number == before + 1


def test_silent_device_is_a_bounded_link_timeout(emu: Emulator, driver: ShtrihDriver) -> None:
    """A silent device makes status() fail with LinkTimeout within the policy's bound."""
    emu.set_silence(True)
    started = time.monotonic()
    with pytest.raises(LinkTimeout):
        driver.status()
    assert time.monotonic() - started < EMU_POLICY.worst_case_s(0x10)
    emu.set_silence(False)
    assert driver.status().mode is Mode.SHIFT_CLOSED


def test_port_vanishing_and_coming_back(emu: Emulator, driver: ShtrihDriver) -> None:
    """A vanished port raises PortGone; once it is back the driver reconnects by itself."""
    emu.vanish_port()
    assert emu.wait_port(present=False, timeout_s=5)
    with pytest.raises(PortGone):
        driver.status()
    emu.restore_port()
    assert emu.wait_port(present=True, timeout_s=5)
    assert driver.status().mode is Mode.SHIFT_CLOSED


def test_shift_older_than_24h_refuses_receipts_until_z(emu: Emulator, open_shift: ShtrihDriver) -> None:
    """After 24 h the device is in mode 3 and refuses a receipt (state error); Z + open shift fix it."""
    emu.advance_clock(DAY_S + 60)
    assert open_shift.status().mode is Mode.SHIFT_EXPIRED
    with pytest.raises(DeviceStateError) as caught:
        open_shift.fiscalize(sale(MILK, cash=8990), TaxSystem.OSN)
    assert caught.value.code in (0x4E, 0x16)
    open_shift.z_report()
    open_shift.open_shift()
    assert open_shift.fiscalize(sale(MILK, cash=8990), TaxSystem.OSN).fd_number == emu.last_fd


def test_ofd_backlog_older_than_30_days_blocks_fiscal_documents(emu: Emulator, open_shift: ShtrihDriver) -> None:
    """With a document unsent for > 30 days the FN refuses new ones with 15h, a state error."""
    open_shift.fiscalize(sale(MILK, cash=8990), TaxSystem.OSN)
    open_shift.z_report()
    emu.advance_clock(31 * DAY_S)
    backlog = open_shift.exchange_status()
    assert backlog.unsent_count == emu.unsent_count
    assert backlog.first_unsent_at is not None
    with pytest.raises(DeviceStateError) as caught:
        open_shift.open_shift()
    assert caught.value.code == 0x15
    emu.ofd_ack()
    open_shift.open_shift()


def test_set_datetime_moves_the_device_clock(emu: Emulator, driver: ShtrihDriver) -> None:
    """set_datetime (22h, 23h, 21h) puts the emulator's clock on the value; 11h reads it back."""
    target = datetime(2027, 6, 15, 10, 20, 30)
    driver.set_datetime(target)
    assert abs((emu.now() - target).total_seconds()) < 5
    assert abs((driver.full_status().device_datetime - target).total_seconds()) < 5


def test_set_datetime_refused_in_an_open_shift(emu: Emulator, open_shift: ShtrihDriver) -> None:
    """With a shift open the device answers 73h, a state error, and its clock stays."""
    before = emu.now()
    with pytest.raises(DeviceStateError) as caught:
        open_shift.set_datetime(datetime(2027, 6, 15, 10, 20, 30))
    assert caught.value.code == 0x73
    assert abs((emu.now() - before).total_seconds()) < 5
