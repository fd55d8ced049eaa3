"""The ``KktDevice`` contract as the pipeline relies on it, run against every device family we have.

Each family is a pair: a running test double of the device and a factory of our driver for it. Shtrih-M
(our driver against the emulator on a real pty) is the only one today; a second family (ATOL) adds its
pair to ``FAMILIES`` and must pass the same tests before the pipeline may use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kkt_emu import EMU_POLICY

from kkt_adapter.emulator import Emulator
from kkt_adapter.kkt.device import KktDevice
from kkt_adapter.kkt.driver import ShtrihDriver
from kkt_adapter.kkt.errors import DeviceRejected, DeviceStateError
from kkt_adapter.kkt.types import Mode
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem

RECEIPT_DOC = 3


@dataclass
class Family:
    """A device of one family for one test: our driver on it, and how to stop the double."""

    device: KktDevice
    stop: Callable[[], None]


def shtrih(tmp_path: Path) -> Family:
    """The Shtrih-M emulator on a pty and our ShtrihDriver on it."""
    emu = Emulator(tmp_path / "kkt.pty", tmp_path / "kkt.json").start()
    return Family(ShtrihDriver(emu.path, 115200, policy=EMU_POLICY), emu.stop)


FAMILIES: dict[str, Callable[[Path], Family]] = {"shtrih": shtrih}


@pytest.fixture(params=sorted(FAMILIES))
def device(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KktDevice]:
    """A connected device of each family."""
    family = FAMILIES[request.param](tmp_path)
    try:
        family.device.connect()
        yield family.device
    finally:
        family.device.close()
        family.stop()


def sale(total_kop: int = 10_000) -> ReceiptIn:
    """A one-line cash sale at 22 %."""
    item = {"name": "Товар", "price_kop": total_kop, "quantity": "1", "amount_kop": total_kop, "vat": "vat22"}
    body = {"operation": "sell", "items": [item], "payments": [{"type": "cash", "amount_kop": total_kop}]}
    return ReceiptIn.model_validate({**body, "total_kop": total_kop})


def test_fiscalized_receipt_is_the_fn_document_after_the_intent(device: KktDevice) -> None:
    """The FN's last FD read before a receipt (the intent) is followed by exactly the receipt's document,
    and the archive holds it with the receipt's sum: what resolving an unknown outcome relies on."""
    device.open_shift()
    intent = device.fn_status().last_fd_number
    result = device.fiscalize(sale(12_345), TaxSystem.OSN)
    assert result.fd_number == intent + 1
    assert device.fn_status().last_fd_number == result.fd_number
    document = device.find_document(result.fd_number)
    assert (document.doc_type, document.sum_kop, document.fiscal_sign) == (RECEIPT_DOC, 12_345, result.fiscal_sign)


def test_missing_fn_document_is_a_refusal(device: KktDevice) -> None:
    """Asking the archive for a document it does not hold is DeviceRejected (resolving reads past the end)."""
    with pytest.raises(DeviceRejected):
        device.find_document(device.fn_status().last_fd_number + 5)


def test_shift_opens_and_closes_as_the_status_says(device: KktDevice) -> None:
    """open_shift and z_report move the status between "shift open" and "shift closed"."""
    device.open_shift()
    assert device.status().mode is Mode.SHIFT_OPEN
    device.z_report()
    assert device.status().mode is Mode.SHIFT_CLOSED


def test_clock_cannot_be_set_in_an_open_shift(device: KktDevice) -> None:
    """set_datetime with a shift open is a device state to fix (close the shift), not a refusal."""
    device.open_shift()
    with pytest.raises(DeviceStateError):
        device.set_datetime(device.fn_status().fn_datetime)


def test_fn_queue_counts_the_receipt_until_the_ofd_answers(device: KktDevice) -> None:
    """A fiscalized receipt is in the FN's OFD queue (exchange status, unconfirmed count) and its message
    can be read for the relay; reading it does not remove it."""
    device.open_shift()
    device.fiscalize(sale(), TaxSystem.OSN)
    queue = device.exchange_status()
    assert queue.unsent_count >= 1
    assert device.unconfirmed_count() >= 1
    message = device.read_ofd_message()
    assert message is not None
    assert device.read_ofd_message() == message
