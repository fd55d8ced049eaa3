"""The device's default cashier (``devices.cashier_name`` / ``cashier_inn``, tags 1021/1203) for a receipt
that names none: pure, applied just before the receipt goes to the device (the stored receipt, and so the
idempotent replay of its key, stays as the POS sent it)."""

from __future__ import annotations

import logging

from pydantic import ValidationError

from kkt_adapter.config.settings import DeviceSettings
from kkt_adapter.receipts.model import Cashier, ReceiptIn

log = logging.getLogger("kkt_adapter.pipeline")


def with_default_cashier(receipt: ReceiptIn, device: DeviceSettings) -> ReceiptIn:
    """``receipt`` with the device's configured cashier when it names none (and the name is not empty);
    unchanged otherwise, or when the configured cashier is not valid for the FN (logged)."""
    if receipt.cashier is not None or not device.cashier_name.strip():
        return receipt
    try:
        cashier = Cashier(name=device.cashier_name.strip(), inn=device.cashier_inn)
    except ValidationError as exc:
        log.warning("device %s: the configured cashier is not printable: %s", device.id, exc.errors()[0]["msg"])
        return receipt
    return receipt.model_copy(update={"cashier": cashier})
