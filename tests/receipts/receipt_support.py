"""Helpers of the receipt tests: validate a body like the API does and list the bad field paths."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from kkt_adapter.receipts.model import ReceiptIn, TaxSystem
from kkt_adapter.receipts.rules import check_receipt

NOW_2026 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def path_of(loc: tuple[Any, ...]) -> str:
    """``("items", 0, "name")`` → ``items[0].name`` (the API's field path format)."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def bad_fields(
    body: dict[str, Any], tax_system: TaxSystem = TaxSystem.OSN, now: datetime = NOW_2026, max_items: int = 200
) -> set[str]:
    """The field paths the intake would name for ``body``: model errors first, else the cross-field rules."""
    try:
        receipt = ReceiptIn.model_validate(body)
    except ValidationError as exc:
        return {path_of(tuple(e["loc"])) for e in exc.errors()}
    return {p.field for p in check_receipt(receipt, receipt.tax_system or tax_system, now, max_items)}
