"""The receipt as the POS sends it: FFD-aligned fields, money in integer kopecks.

Field-level rules (types, ranges, string limits) live here as pydantic constraints; the rules that
tie fields together (line arithmetic, totals, payments, VAT by date) are pure functions in
:mod:`kkt_adapter.receipts.rules`. Every field names its FFD tag in the description.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

MAX_KOP = 10**12  # 10 billion roubles: far above any receipt, far below the 5-byte protocol field
MAX_QUANTITY = Decimal("99999.999")

_PHONE = re.compile(r"^\+\d{11,15}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_INN = re.compile(r"^(\d{10}|\d{12})$")
_KEY = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc, exactly (a test checks every code point)

Kopecks = Annotated[int, Field(ge=0, le=MAX_KOP, strict=True)]
PositiveKopecks = Annotated[int, Field(gt=0, le=MAX_KOP, strict=True)]


def _printable(value: str) -> str:
    """Refuse control characters (Unicode category Cc: C0, DEL, C1): the printer and the FN cannot take them."""
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(_printable)]


def _encodable(codec: str, where: str) -> AfterValidator:
    """Refuse text the KKT cannot carry byte for byte: one spelling in every copy (device, buffer, export),
    never a '?' substituted on the device alone (docs/kkt-encodings.md)."""

    def check(value: str) -> str:
        try:
            value.encode(codec)  # the whole text at once; character by character only to name the bad ones
        except UnicodeEncodeError:
            bad = sorted({ch for ch in value if not _fits(ch, codec)})
            shown = ", ".join(repr(ch) for ch in bad[:5])
            raise ValueError(f"{where} cannot carry {shown} (not in {codec}); use another spelling") from None
        return value

    return AfterValidator(check)


def _fits(ch: str, codec: str) -> bool:
    try:
        ch.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


# Item names go to the KKT in FF46 as cp1251 (javapos PrinterCommand charsetName "Cp1251"); FN TLV strings
# sent with FF0C (cashier) are cp866 (javapos TLVTag/TLVWriter use IBM866).
PrintedText = Annotated[Text, _encodable("cp1251", "the KKT (FF46, cp1251)")]
TlvText = Annotated[Text, _encodable("cp866", "the FN (TLV, cp866)")]


class Operation(StrEnum):
    """Tag 1054, признак расчета."""

    SELL = "sell"
    SELL_RETURN = "sell_return"
    BUY = "buy"
    BUY_RETURN = "buy_return"

    @property
    def tag_1054(self) -> int:
        return _OPERATION_CODES[self]


_OPERATION_CODES = {
    Operation.SELL: 1,
    Operation.SELL_RETURN: 2,
    Operation.BUY: 3,
    Operation.BUY_RETURN: 4,
}


class TaxSystem(StrEnum):
    """Tag 1055, применяемая система налогообложения (one bit of the FN's bit mask)."""

    OSN = "osn"
    USN_INCOME = "usn_income"
    USN_INCOME_OUTCOME = "usn_income_outcome"
    ESHN = "eshn"
    PATENT = "patent"

    @property
    def bit(self) -> int:
        return _TAX_SYSTEM_BITS[self]

    @property
    def is_usn(self) -> bool:
        return self in (TaxSystem.USN_INCOME, TaxSystem.USN_INCOME_OUTCOME)


_TAX_SYSTEM_BITS = {
    TaxSystem.OSN: 0x01,
    TaxSystem.USN_INCOME: 0x02,
    TaxSystem.USN_INCOME_OUTCOME: 0x04,
    TaxSystem.ESHN: 0x10,
    TaxSystem.PATENT: 0x20,
}


class Vat(StrEnum):
    """Tag 1199, ставка НДС; the value of :attr:`tag_1199` is the FFD code."""

    VAT22 = "vat22"
    VAT20 = "vat20"
    VAT10 = "vat10"
    VAT7 = "vat7"
    VAT5 = "vat5"
    VAT0 = "vat0"
    NONE = "none"
    VAT122 = "vat122"
    VAT120 = "vat120"
    VAT110 = "vat110"
    VAT107 = "vat107"
    VAT105 = "vat105"

    @property
    def tag_1199(self) -> int:
        return _VAT_CODES[self]


_VAT_CODES = {
    Vat.VAT20: 1,
    Vat.VAT10: 2,
    Vat.VAT120: 3,
    Vat.VAT110: 4,
    Vat.VAT0: 5,
    Vat.NONE: 6,
    Vat.VAT5: 7,
    Vat.VAT7: 8,
    Vat.VAT105: 9,
    Vat.VAT107: 10,
    Vat.VAT22: 11,
    Vat.VAT122: 12,
}


class PaymentMethod(IntEnum):
    """Tag 1214, признак способа расчета."""

    FULL_PREPAYMENT = 1
    PREPAYMENT = 2
    ADVANCE = 3
    FULL_PAYMENT = 4
    PARTIAL_PAYMENT = 5
    CREDIT = 6
    CREDIT_PAYMENT = 7


# What the validators below enforce, stated in the OpenAPI schema too (schemathesis generates from it).
# A quantity as a string: a positive decimal ≤ 99999.999 with at most 3 places (as a number: the same bounds;
# JSON Schema's multipleOf cannot state "3 places" exactly for binary floats, the description does).
QUANTITY_PATTERN = r"^(?:[1-9][0-9]{0,4}(?:\.[0-9]{1,3})?|0?\.(?:[1-9][0-9]{0,2}|0[1-9][0-9]?|00[1-9]))$"
QUANTITY_SCHEMA = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0, "maximum": float(MAX_QUANTITY)},
        {"type": "string", "pattern": QUANTITY_PATTERN},
    ]
}
CONTACT_SCHEMA = {
    "anyOf": [{"type": "string", "pattern": _PHONE.pattern}, {"type": "string", "pattern": _EMAIL.pattern}]
}


def _nullable(schema: dict[str, object]) -> dict[str, object]:
    return {"anyOf": [schema, {"type": "null"}]}


def _codes(codes: frozenset[int]) -> list[JsonValue]:
    return [int(code) for code in sorted(codes)]


# Tag 1212, признак предмета расчета: FFD 1.2 codes 1–27 and 30–33.
PAYMENT_OBJECT_CODES = frozenset(range(1, 28)) | frozenset(range(30, 34))

# Tag 2108, мера количества (FFD 1.2): штуки, граммы…тонны, сантиметры…метры, площадь, объём,
# энергия, время, данные, прочее.
MEASURE_CODES = frozenset(
    {0, 10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 70, 71, 72, 73, 80, 81, 82, 83, 255}
)


class PaymentType(StrEnum):
    """Kinds of payment and their FFD tags (1031, 1081, 1215, 1216, 1217)."""

    CASH = "cash"
    ELECTRONIC = "electronic"
    PREPAYMENT = "prepayment"
    CREDIT = "credit"
    COUNTER_PROVISION = "counter_provision"

    @property
    def tag(self) -> int:
        return _PAYMENT_TAGS[self]


_PAYMENT_TAGS = {
    PaymentType.CASH: 1031,
    PaymentType.ELECTRONIC: 1081,
    PaymentType.PREPAYMENT: 1215,
    PaymentType.CREDIT: 1216,
    PaymentType.COUNTER_PROVISION: 1217,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Item(_Strict):
    """One line of the receipt: tag 1059 and what it contains."""

    name: Annotated[PrintedText, StringConstraints(max_length=128)] = Field(
        description="Tag 1030, ≤ 128 chars, each in cp1251 (what the KKT takes)"
    )
    price_kop: Kopecks = Field(description="Tag 1079, price per unit with discounts, kopecks")
    quantity: Annotated[Decimal, WithJsonSchema(QUANTITY_SCHEMA)] = Field(
        gt=0, le=MAX_QUANTITY, decimal_places=3, description="Tag 1023, exact decimal, ≤ 3 places"
    )
    amount_kop: Kopecks = Field(description="Tag 1043, line amount = price × quantity (±1 kopeck)")
    vat: Vat = Field(description="Tag 1199")
    payment_method: PaymentMethod = Field(default=PaymentMethod.FULL_PAYMENT, description="Tag 1214")
    payment_object: int = Field(
        default=1, description="Tag 1212", json_schema_extra={"enum": _codes(PAYMENT_OBJECT_CODES)}
    )
    measure: int = Field(
        default=0, description="Tag 2108, 0 = pieces", json_schema_extra={"enum": _codes(MEASURE_CODES)}
    )

    @field_validator("payment_object")
    @classmethod
    def _known_object(cls, value: int) -> int:
        if value not in PAYMENT_OBJECT_CODES:
            raise ValueError("not a tag 1212 code (1–27, 30–33)")
        return value

    @field_validator("measure")
    @classmethod
    def _known_measure(cls, value: int) -> int:
        if value not in MEASURE_CODES:
            raise ValueError("not a tag 2108 code")
        return value


class Payment(_Strict):
    """One payment of the receipt."""

    type: PaymentType
    amount_kop: PositiveKopecks


class Cashier(_Strict):
    """Tags 1021 (кассир) and 1203 (ИНН кассира)."""

    name: Annotated[TlvText, StringConstraints(max_length=64)] = Field(description="Tag 1021, characters of cp866")
    inn: str | None = Field(default=None, description="Tag 1203, 12 digits (10 for a legal entity)")

    @field_validator("inn")
    @classmethod
    def _inn_digits(cls, value: str | None) -> str | None:
        if value is not None and not _INN.match(value):
            raise ValueError("must be 10 or 12 digits")
        return value


class ReceiptIn(_Strict):
    """A receipt as posted by the POS (`POST /v1/receipts`)."""

    id: Annotated[str | None, WithJsonSchema(_nullable({"type": "string", "pattern": _KEY.pattern}))] = Field(
        default=None, description="Client key, used when no Idempotency-Key header is given"
    )
    device: str | None = Field(default=None, description="Device id from the registry; default if absent")
    operation: Operation = Field(description="Tag 1054")
    tax_system: TaxSystem | None = Field(default=None, description="Tag 1055; the device's default if absent")
    items: list[Item] = Field(min_length=1)
    payments: list[Payment] = Field(min_length=1, max_length=10)
    total_kop: PositiveKopecks = Field(description="Tag 1020")
    customer_contact: Annotated[str | None, WithJsonSchema(_nullable(CONTACT_SCHEMA))] = Field(
        default=None, description="Tag 1008: +phone or e-mail"
    )
    cashier: Cashier | None = None
    created_at: datetime | None = Field(
        default=None, description="When the POS made the sale (ISO 8601 with offset); checked for sanity"
    )

    @field_validator("id")
    @classmethod
    def _key_shape(cls, value: str | None) -> str | None:
        if value is not None and not _KEY.match(value):
            raise ValueError("must be 1–64 characters of A-Z a-z 0-9 . _ : -")
        return value

    @field_validator("customer_contact")
    @classmethod
    def _contact_shape(cls, value: str | None) -> str | None:
        if value is not None and not (_PHONE.match(value) or _EMAIL.match(value)):
            raise ValueError("must be a phone (+ and 11–15 digits) or an e-mail address")
        return value

    @field_validator("created_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a UTC offset")
        return value


def is_valid_key(key: str) -> bool:
    """Whether ``key`` may serve as an idempotency key (same rule as the body's ``id``)."""
    return bool(_KEY.match(key))
