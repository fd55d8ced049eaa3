"""The device's configured cashier (devices.cashier_name / cashier_inn) is printed when a receipt names none."""

from __future__ import annotations

from pipeline_rig import sale

from kkt_adapter.config.settings import DeviceSettings
from kkt_adapter.kkt.protocol.receipt import TAG_CASHIER_INN, TAG_CASHIER_NAME, document_tags
from kkt_adapter.pipeline.cashier import with_default_cashier
from kkt_adapter.receipts.model import Cashier

DEVICE = DeviceSettings(id="kkt1", port="/dev/null", cashier_name="Петрова О.", cashier_inn="500100732259")


def test_a_receipt_without_a_cashier_gets_the_devices_tags_1021_and_1203() -> None:
    """No cashier in the receipt: the device's name and INN go to the FN as tags 1021 and 1203 (cp866)."""
    tags = dict(document_tags(with_default_cashier(sale(100), DEVICE)))
    assert tags[TAG_CASHIER_NAME] == "Петрова О.".encode("cp866")
    assert tags[TAG_CASHIER_INN] == b"500100732259"


def test_the_receipts_own_cashier_wins() -> None:
    """A receipt naming its cashier keeps it."""
    own = sale(100).model_copy(update={"cashier": Cashier(name="Иванова И.")})
    assert with_default_cashier(own, DEVICE).cashier == Cashier(name="Иванова И.")


def test_a_cashier_the_fn_cannot_take_is_not_sent() -> None:
    """A configured INN that is not 10/12 digits: the receipt goes without a default cashier (logged)."""
    bad = DeviceSettings(id="kkt1", port="/dev/null", cashier_name="Кассир", cashier_inn="12")
    assert with_default_cashier(sale(100), bad).cashier is None
