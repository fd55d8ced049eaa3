"""Response models of the receipts API (what the POS reads back)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from kkt_adapter.buffer.records import StoredReceipt
from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.receipts.qr import qr_string


class FiscalOut(BaseModel):
    """The fiscal result, named by FFD tag."""

    fd_number: int  # 1040
    fiscal_sign: int  # 1077
    fiscal_datetime: datetime  # 1012
    shift_number: int | None  # 1038
    receipt_number: int | None  # 1042
    fn_serial: str  # 1041
    registration_number: str  # 1037
    qr: str  # 1196
    print_incomplete: bool


class ExportOut(BaseModel):
    """The optional HQ export's progress for one receipt (``docs/export-api.md``); nothing here is about the OFD."""

    delivered: bool = Field(description="The HQ export endpoint confirmed it (the receipt's state is `delivered`).")
    ticket: str | None = Field(
        description="The acknowledgement id the HQ export endpoint answered (its `ticket` field); not the OFD's ticket."
    )
    delivered_at: datetime | None = Field(description="When the HQ export endpoint confirmed it.")
    attempts: int = Field(description="Export attempts made so far.")
    next_attempt_at: datetime | None = Field(description="When the export tries again (null: not scheduled).")
    last_error: str | None = Field(description="The last export failure, while not delivered.")


class ReceiptOut(BaseModel):
    """A receipt's current state; ``state`` is what the POS must act on."""

    id: str
    state: ReceiptState
    device: str
    operation: str
    total_kop: int
    created_at: datetime
    updated_at: datetime
    fiscal: FiscalOut | None = None
    rejected: dict[str, object] | None = None
    export: ExportOut | None = Field(
        default=None,
        description=(
            "The optional HQ export's progress (null until fiscalized). Not the OFD: see `ofd_confirmed_at`. "
            "Named `ofd` before this release."
        ),
    )
    dead_reason: str | None = None
    ofd_confirmed_at: datetime | None = Field(
        default=None,
        description=(
            "When the adapter learnt that the OFD holds this receipt's fiscal document: the OFD's ticket was "
            "written into the FN (ofd.mode = relay) or the FN's queue moved past it (ofd.mode = device). "
            "null until then, and always with ofd.mode = off. Set once, never cleared. Independent of "
            "`state`: `delivered`/`dead` and the `export` block are the optional HQ export's."
        ),
    )


class ReceiptPage(BaseModel):
    items: list[ReceiptOut]
    next_after: int | None


def receipt_out(stored: StoredReceipt, tz: ZoneInfo) -> ReceiptOut:
    """Render a stored receipt for the API; the QR string uses the device's local time zone."""
    fiscal = None
    if stored.fd_number is not None and stored.fiscal_datetime is not None and stored.fiscal_sign is not None:
        fn_serial = stored.fn_serial or ""
        fiscal = FiscalOut(
            fd_number=stored.fd_number,
            fiscal_sign=stored.fiscal_sign,
            fiscal_datetime=stored.fiscal_datetime.astimezone(tz),
            shift_number=stored.shift_number,
            receipt_number=stored.receipt_number,
            fn_serial=fn_serial,
            registration_number=stored.registration_number or "",
            qr=qr_string(
                stored.fiscal_datetime.astimezone(tz),
                stored.receipt.total_kop,
                fn_serial,
                stored.fd_number,
                stored.fiscal_sign,
                stored.receipt.operation.tag_1054,
            ),
            print_incomplete=stored.print_incomplete,
        )
    rejected = None
    if stored.state is ReceiptState.REJECTED:
        rejected = {"code": stored.reject_code, "reason": stored.reject_reason}
    export = None
    if fiscal is not None:
        export = ExportOut(
            delivered=stored.state is ReceiptState.DELIVERED,
            ticket=stored.ofd_ticket,
            delivered_at=stored.delivered_at,
            attempts=stored.sync_attempts,
            next_attempt_at=stored.next_attempt_at,
            last_error=stored.last_error if stored.state is not ReceiptState.DELIVERED else None,
        )
    return ReceiptOut(
        id=stored.key,
        state=stored.state,
        device=stored.device_id,
        operation=stored.receipt.operation.value,
        total_kop=stored.receipt.total_kop,
        created_at=stored.created_at,
        updated_at=stored.updated_at,
        fiscal=fiscal,
        rejected=rejected,
        export=export,
        dead_reason=stored.dead_reason,
        ofd_confirmed_at=stored.ofd_confirmed_at,
    )
