"""Text the KKT cannot carry byte for byte is refused at intake, naming the field (one spelling in every copy).

Charsets: FF46 names cp1251 (javapos ``command/PrinterCommand.java`` ``charsetName = "Cp1251"``); FN TLV strings
cp866 (javapos ``fiscalprinter/TLVTag.java`` ``getBytes(new IBM866())``).
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kkt_adapter.receipts.model import ReceiptIn


def body(name: str = "Молоко", cashier: str | None = None) -> dict[str, object]:
    data: dict[str, object] = {
        "operation": "sell",
        "items": [{"name": name, "price_kop": 100, "quantity": "1", "amount_kop": 100, "vat": "vat22"}],
        "payments": [{"type": "cash", "amount_kop": 100}],
        "total_kop": 100,
    }
    if cashier is not None:
        data["cashier"] = {"name": cashier}
    return data


@pytest.mark.parametrize("name", ["Молоко 🥛", "Café", "日本茶"])
def test_item_name_outside_cp1251_is_refused_naming_the_field(name: str) -> None:
    """A character FF46 cannot carry in cp1251 fails validation at items.0.name, naming the character."""
    with pytest.raises(ValidationError) as caught:
        ReceiptIn.model_validate(body(name=name))
    (error,) = caught.value.errors()
    assert error["loc"] == ("items", 0, "name")
    assert "cp1251" in error["msg"]


@pytest.mark.parametrize("name", ["Сыр «Российский» №1 — 45%", "Milk € ‰ 3,2%"])
def test_cp1251_punctuation_is_accepted(name: str) -> None:
    """Guillemets, №, dashes, €, ‰ and Latin letters exist in cp1251 and pass."""
    assert ReceiptIn.model_validate(body(name=name)).items[0].name == name


def test_cashier_name_outside_cp866_is_refused() -> None:
    """Guillemets are cp1251 but not cp866: a cashier name with them fails at cashier.name."""
    with pytest.raises(ValidationError) as caught:
        ReceiptIn.model_validate(body(cashier="Иванова «А»"))
    assert caught.value.errors()[0]["loc"] == ("cashier", "name")
