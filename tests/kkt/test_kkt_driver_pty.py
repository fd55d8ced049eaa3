"""The driver's typed operations and its exactly-once contract, against a scripted device on a pty."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from kkt_responder import FAST, PtyResponder

from kkt_adapter.kkt.driver import ShtrihDriver
from kkt_adapter.kkt.errors import DeviceRejected, DeviceStateError, LinkTimeout, OutcomeUnknown, PortGone
from kkt_adapter.kkt.types import FiscalResult, Mode
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem

MakeResponder = Callable[..., PtyResponder]

FN_SERIAL = b"9999078900012345"
ANSWERS: dict[bytes, bytes] = {
    b"\xfc": bytes.fromhex("00 00 00 01 06 fa 00") + "ШТРИХ-М-01Ф".encode("cp1251"),
    b"\x10": bytes.fromhex("00 1e 92 02 04 00 00 9c 51 00 00 00 00 00 00"),
    b"\x11": bytes.fromhex(
        "00 1e 43 33 86 da 01 01 1a 01 00 07 00 92 02 04 00 01 00 00 00 00 00 00 0f 0b 1a 0c 1e 00"
        " 00 39 30 00 00 05 00 00 00 00 00 75 c4 60 cb 01 00"
    ),
    b"\xff\x02": b"\x00" + FN_SERIAL,
    b"\xff\x09": b"\x37",
    b"\xff\x40": bytes.fromhex("00 01 07 00 03 00"),
}


class Device:
    """A scripted device: fixed answers, plus a configurable answer to FF45."""

    def __init__(self) -> None:
        self.close_answer = bytes.fromhex("00 10 27 00 00 00 1d 00 00 00 f3 60 35 ff 1a 01 0f 0c 1e")

    def __call__(self, body: bytes) -> bytes:
        code = body[:2] if body[0] == 0xFF else body[:1]
        if code == b"\xff\x45":
            return code + self.close_answer
        return code + ANSWERS.get(code, b"\x00\x1e")


def sale() -> ReceiptIn:
    return ReceiptIn.model_validate(
        {
            "operation": "sell",
            "items": [{"name": "Молоко", "price_kop": 8990, "quantity": "1", "amount_kop": 8990, "vat": "vat22"}],
            "payments": [{"type": "cash", "amount_kop": 18990}],
            "total_kop": 8990,
        }
    )


@pytest.fixture
def device() -> Device:
    return Device()


@pytest.fixture
def rig(make_responder: MakeResponder, device: Device) -> Iterator[tuple[PtyResponder, ShtrihDriver]]:
    responder = make_responder(device)
    driver = ShtrihDriver(str(responder.path), 115200, policy=FAST)
    yield responder, driver
    driver.close()


def codes(responder: PtyResponder) -> list[str]:
    return [(body[:2] if body[0] == 0xFF else body[:1]).hex() for body in responder.executed]


def test_connect_identifies_the_device(rig: tuple[PtyResponder, ShtrihDriver]) -> None:
    """connect() reads model, serial, INN, FN serial; an unsupported FF09 leaves no RNM."""
    _, driver = rig
    info = driver.connect()
    assert info.model_name == "ШТРИХ-М-01Ф"
    assert info.serial == "12345"
    assert info.fn_serial == FN_SERIAL.decode()
    assert info.registration_number == ""
    assert info.inn == "7707083893"


def test_status_decodes_mode(rig: tuple[PtyResponder, ShtrihDriver]) -> None:
    """status() returns the mode of 10h."""
    _, driver = rig
    assert driver.status().mode is Mode.SHIFT_CLOSED


def test_fiscalize_sends_the_receipt_flow_and_returns_the_fn_result(
    rig: tuple[PtyResponder, ShtrihDriver],
) -> None:
    """1Fh (table 1 field 14, once per connection, for a 22 % receipt), 8Dh, FF46, FF40, FF45 in order → FD,
    sign, date-time, shift and receipt number, change."""
    responder, driver = rig
    result = driver.fiscalize(sale(), TaxSystem.OSN)
    assert result == FiscalResult(
        fd_number=29,
        fiscal_sign=0xFF3560F3,
        fiscal_datetime=datetime(2026, 1, 15, 12, 30),
        shift_number=7,
        receipt_number=3,
        change_kop=10000,
    )
    assert codes(responder) == ["1f", "8d", "ff46", "ff40", "ff45"]


def test_error_before_close_propagates_as_itself(rig: tuple[PtyResponder, ShtrihDriver], device: Device) -> None:
    """A line refused with 33h raises DeviceRejected (not OutcomeUnknown) and FF45 is never sent."""
    responder, driver = rig
    responder.handler = lambda body: b"\xff\x46\x33" if body[:2] == b"\xff\x46" else device(body)
    with pytest.raises(DeviceRejected):
        driver.fiscalize(sale(), TaxSystem.OSN)
    assert "ff45" not in codes(responder)


def test_paper_out_on_close_is_outcome_unknown(rig: tuple[PtyResponder, ShtrihDriver], device: Device) -> None:
    """6Bh on FF45 (the FN may have signed) raises OutcomeUnknown carrying the state error."""
    _, driver = rig
    device.close_answer = b"\x6b"
    with pytest.raises(OutcomeUnknown) as caught:
        driver.fiscalize(sale(), TaxSystem.OSN)
    assert isinstance(caught.value.cause, DeviceStateError)
    assert caught.value.cause.code == 0x6B


def test_lost_close_answer_is_outcome_unknown_and_not_resent(rig: tuple[PtyResponder, ShtrihDriver]) -> None:
    """A close executed whose answer never comes raises OutcomeUnknown(LinkTimeout); FF45 ran once."""
    responder, driver = rig
    original = responder.handler

    def forget_close(body: bytes) -> bytes:
        if body[:2] == b"\xff\x45":
            responder.faults.dropped_answers = 1
        return original(body)

    responder.handler = forget_close
    with pytest.raises(OutcomeUnknown) as caught:
        driver.fiscalize(sale(), TaxSystem.OSN)
    assert isinstance(caught.value.cause, LinkTimeout)
    assert codes(responder).count("ff45") == 1


def test_port_gone_during_close_is_outcome_unknown(rig: tuple[PtyResponder, ShtrihDriver]) -> None:
    """The port vanishing while the close is in flight raises OutcomeUnknown(PortGone)."""
    responder, driver = rig
    original = responder.handler

    def vanish_on_close(body: bytes) -> bytes:
        if body[:2] == b"\xff\x45":
            responder.unplug_after_this_command()
        return original(body)

    responder.handler = vanish_on_close
    with pytest.raises(OutcomeUnknown) as caught:
        driver.fiscalize(sale(), TaxSystem.OSN)
    assert isinstance(caught.value.cause, PortGone)


def test_close_then_use_again_reconnects(rig: tuple[PtyResponder, ShtrihDriver]) -> None:
    """close() followed by a call opens the port again."""
    _, driver = rig
    driver.connect()
    driver.close()
    assert driver.status().mode is Mode.SHIFT_CLOSED


def test_port_missing_on_connect_is_port_gone() -> None:
    """A driver on a missing port raises PortGone from connect()."""
    with pytest.raises(PortGone):
        ShtrihDriver("/nonexistent/kkt", policy=FAST).connect()


def test_silence_before_the_close_frame_left_propagates_as_itself(
    rig: tuple[PtyResponder, ShtrihDriver], device: Device
) -> None:
    """If the device goes silent before FF45 could be sent, the error is LinkTimeout, not OutcomeUnknown."""
    responder, driver = rig

    def mute_after_ff40(body: bytes) -> bytes:
        if body[:2] == b"\xff\x40":
            responder.faults.mute = True
        return device(body)

    responder.handler = mute_after_ff40
    with pytest.raises(LinkTimeout):
        driver.fiscalize(sale(), TaxSystem.OSN)
    assert "ff45" not in codes(responder)


def test_close_answer_without_date_time_takes_it_from_the_archive(
    rig: tuple[PtyResponder, ShtrihDriver], device: Device
) -> None:
    """An FF45 answer without the optional date-time is completed from FF0A of the new FD."""
    responder, driver = rig
    device.close_answer = bytes.fromhex("00 00 00 00 00 00 1d 00 00 00 f3 60 35 ff")
    archive = bytes.fromhex("ff 0a 00 03 00 1a 01 0f 0c 1f 1d 00 00 00 f3 60 35 ff 01 1e 23 00 00 00")
    responder.handler = lambda body: archive if body[:2] == b"\xff\x0a" else device(body)
    result = driver.fiscalize(sale(), TaxSystem.OSN)
    assert result.fiscal_datetime == datetime(2026, 1, 15, 12, 31)
    assert codes(responder)[-1] == "ff0a"


def test_cashier_and_contact_go_as_tlv_before_the_close(rig: tuple[PtyResponder, ShtrihDriver]) -> None:
    """Cashier name (1021), cashier INN (1203) and customer contact (1008) are sent by FF0C in cp866."""
    responder, driver = rig
    body = sale().model_dump(mode="json")
    body |= {"cashier": {"name": "Иванова А.", "inn": "500100732259"}, "customer_contact": "a@b.ru"}
    driver.fiscalize(ReceiptIn.model_validate(body), TaxSystem.OSN)
    tlvs = [b[6:] for b in responder.executed if b[:2] == b"\xff\x0c"]
    assert tlvs == [
        b"\xfd\x03\x0a\x00" + "Иванова А.".encode("cp866"),
        b"\xb3\x04\x0c\x00" + b"500100732259",
        b"\xf0\x03\x06\x00" + b"a@b.ru",
    ]
    assert codes(responder)[-2:] == ["ff40", "ff45"]
