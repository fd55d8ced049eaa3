"""The export API contract as pydantic models (see ``docs/export-api.md``): one fiscal document, the answers.

Money is integer kopecks, quantities are decimal strings with at most 3 places; every field names its
FFD tag. The document id is ``"{fn_serial}-{fd_number}"``: unique per fiscal document and stable across
retries, so a resubmission is recognised by the export endpoint as the same document.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

FN_SERIAL = re.compile(r"^\d{16}$")
FISCAL_SIGN = re.compile(r"^\d{1,10}$")
MAX_FISCAL_SIGN = 0xFFFFFFFF

Kop = Annotated[int, Field(ge=0)]


def document_id(fn_serial: str, fd_number: int) -> str:
    """The export document id of fiscal document ``fd_number`` of fiscal storage ``fn_serial``."""
    return f"{fn_serial}-{fd_number}"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExportItem(_Frozen):
    """Tag 1059, one line (предмет расчета)."""

    name: str = Field(max_length=128, description="Tag 1030")
    price_kop: Kop = Field(description="Tag 1079")
    quantity: Decimal = Field(gt=0, decimal_places=3, description="Tag 1023")
    amount_kop: Kop = Field(description="Tag 1043")
    vat: int = Field(ge=1, le=12, description="Tag 1199 code")
    vat_kop: Kop = Field(description="Tag 1200, VAT of this line")
    payment_method: int = Field(ge=1, le=7, description="Tag 1214")
    payment_object: int = Field(ge=1, le=33, description="Tag 1212")
    measure: int = Field(ge=0, le=255, description="Tag 2108")


class ExportPayments(_Frozen):
    """Payment sums of the settlement; they add up to the total (cash is net of change)."""

    cash_kop: Kop = Field(default=0, description="Tag 1031")
    electronic_kop: Kop = Field(default=0, description="Tag 1081")
    prepayment_kop: Kop = Field(default=0, description="Tag 1215")
    credit_kop: Kop = Field(default=0, description="Tag 1216")
    counter_provision_kop: Kop = Field(default=0, description="Tag 1217")

    def sum_kop(self) -> int:
        """Σ of all payment tags."""
        return self.cash_kop + self.electronic_kop + self.prepayment_kop + self.credit_kop + self.counter_provision_kop


class ExportVatSum(_Frozen):
    """VAT of the receipt at one rate (tags 1102–1107 and their FFD 1.2 successors)."""

    vat: int = Field(ge=1, le=12, description="Tag 1199 code of the rate")
    base_kop: Kop = Field(description="Σ of line amounts (1043) at this rate")
    vat_kop: Kop = Field(description="VAT at this rate: 1102 (20 %), 1103, 1104, 1105, 1106, 1107 …")


class ExportCashier(_Frozen):
    """Tags 1021 and 1203."""

    name: str = Field(max_length=64, description="Tag 1021")
    inn: str | None = Field(default=None, description="Tag 1203")


class ExportDocument(_Frozen):
    """One fiscal document (кассовый чек) as submitted to the export endpoint; ``id`` is stable across retries."""

    id: str = Field(description="'{fn_serial}-{fd_number}'")
    fn_serial: str = Field(description="Tag 1041, 16 digits")
    registration_number: str = Field(max_length=20, description="Tag 1037")
    fd_number: int = Field(ge=1, description="Tag 1040")
    fiscal_sign: str = Field(description="Tag 1077, decimal digits (≤ 10)")
    fiscal_datetime: datetime = Field(description="Tag 1012, ISO 8601 with offset")
    operation: int = Field(ge=1, le=4, description="Tag 1054")
    tax_system: int = Field(ge=1, le=0x3F, description="Tag 1055 bit")
    items: list[ExportItem] = Field(min_length=1)
    payments: ExportPayments
    vat_sums: list[ExportVatSum]
    total_kop: Kop = Field(description="Tag 1020")
    shift_number: int = Field(ge=0, description="Tag 1038")
    receipt_number: int = Field(ge=0, description="Tag 1042")
    cashier: ExportCashier | None = None
    customer_contact: str | None = Field(default=None, description="Tag 1008")

    def canonical_json(self) -> str:
        """The document as JSON with sorted keys: equal content ⇔ equal string."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)


class Ticket(_Frozen):
    """The endpoint's answer to an accepted document (201, 200) and to ``GET /v1/documents/{id}``."""

    id: str
    ticket: str = Field(min_length=1, description="The endpoint's acknowledgement (квитанция) id")
    received_at: datetime


class ErrorItem(_Frozen):
    """One problem of a rejected document."""

    field: str
    reason: str


class ErrorBody(_Frozen):
    """The body of every 4xx/5xx answer."""

    error: str = Field(description="Machine-readable code: validation, conflict, unauthorized, …")
    detail: str = ""
    errors: list[ErrorItem] = Field(default_factory=list)
