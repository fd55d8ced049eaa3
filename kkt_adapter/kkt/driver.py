"""Typed operations on a Shtrih-M fiscal printer: :class:`ShtrihDriver` implements ``KktDevice``.

Blocking; one worker thread owns a driver (not thread-safe). Every method raises only errors from
:mod:`kkt_adapter.kkt.errors`; :meth:`ShtrihDriver.close` may be followed by any call (the port is
opened again on demand).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from kkt_adapter.kkt.errors import (
    DeviceError,
    DeviceRejected,
    KktError,
    NotEncodable,
    OfdMessageChanged,
    OutcomeUnknown,
    ProtocolError,
)
from kkt_adapter.kkt.link import SerialLink
from kkt_adapter.kkt.link_config import LinkPolicy
from kkt_adapter.kkt.protocol import answers, commands
from kkt_adapter.kkt.protocol import receipt as receipt_codec
from kkt_adapter.kkt.protocol.answers import CloseAnswer, FullStatus, Registration, SettlementReport
from kkt_adapter.kkt.protocol.commands import simple
from kkt_adapter.kkt.protocol.frame import command_code
from kkt_adapter.kkt.protocol.receipt import Passwords, ReceiptBodies
from kkt_adapter.kkt.protocol.tax import RateNotEncodable
from kkt_adapter.kkt.types import (
    DeviceInfo,
    DeviceStatus,
    ExchangeStatus,
    FiscalResult,
    FnDocument,
    FnExpiry,
    FnStatus,
    OfdLink,
    ShiftParams,
)
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem, Vat

if TYPE_CHECKING:
    from kkt_adapter.kkt.device import KktDevice

# 2026: the Shtrih firmware either replaces VAT 20 % by 22 % on row 1 by itself (table 17 field 71 = 1, the
# default) or sends the row it is given (= 2) — fr_drv_ng #328 (the vendor's driver maintainer, 2025-12-09).
VAT_MODE_TABLE, VAT_MODE_ROW, VAT_MODE_FIELD = 17, 1, 71
VAT_MODE_AUTO_22 = 1
VAT22_FROM = date(2026, 1, 1)
ROW1_RATES = frozenset({Vat.VAT20, Vat.VAT120})
# Table 1 field 14 (fr_drv_ng #318): 0 = the KKT computes the taxes, 1 = the software must send them in FF45 —
# and no source gives an FF45 slot for 22 % / 22/122.
TAX_MODE_TABLE, TAX_MODE_ROW, TAX_MODE_FIELD = 1, 1, 14
TAX_MODE_BY_SOFTWARE = 1
NO_SLOT_RATES = frozenset({Vat.VAT22, Vat.VAT122})
FN_ERROR_CODES = (0x01, 0x2F)  # error bytes that carry the FN's own meaning on FN-era Shtrih devices
SESSION_HEADER_BYTES = 30  # the OFD session header before the container (docs/ofd-exchange.md)


def _unknown(exc: Exception) -> OutcomeUnknown:
    cause = exc if isinstance(exc, KktError) else ProtocolError(f"{type(exc).__name__}: {exc}")
    return OutcomeUnknown(cause)


class ShtrihDriver:
    """A Shtrih-M KKT on serial ``port`` at ``baudrate`` (8N1), speaking the standard protocol.

    Operator commands (receipt, shift, status) use ``password_cashier``; reports and FN commands use
    ``password_admin``. ``policy`` bounds every wait of the link (see :class:`LinkPolicy`).
    """

    def __init__(
        self,
        port: str,
        baudrate: int = 115200,
        *,
        password_cashier: int = 1,
        password_admin: int = 30,
        policy: LinkPolicy | None = None,
    ) -> None:
        self.link = SerialLink(port, baudrate, policy)
        self.password_cashier = password_cashier
        self.password_admin = password_admin
        self.model: int | None = None  # FCh model number, known after connect()
        self._settings: dict[tuple[int, int, int], int | None] = {}  # table fields read since connect()

    # --- plumbing ----------------------------------------------------------------------------------

    def _call(self, body: bytes) -> bytes:
        """Run one command; return its answer data (after the error byte) or raise its error."""
        return answers.check_answer(command_code(body), self.link.transact(body))

    def _cashier(self, command: int) -> bytes:
        return self._call(simple(command, self.password_cashier))

    def _admin(self, command: int) -> bytes:
        return self._call(simple(command, self.password_admin))

    # --- connection --------------------------------------------------------------------------------

    def connect(self) -> DeviceInfo:
        """Open the port and identify the device (FCh, 11h, FF02, FF09 where supported)."""
        self.link.open()
        self._settings.clear()
        device_type = answers.decode_device_type(self._call(commands.get_device_type()))
        self.model = device_type.model
        full = self.full_status()
        fn_serial = answers.decode_fn_serial(self._admin(commands.FN_SERIAL))
        registration = self.registration()
        return DeviceInfo(
            model_name=device_type.name,
            serial=full.serial,
            fn_serial=fn_serial,
            registration_number=registration.registration_number if registration else "",
            inn=registration.inn if registration and registration.inn else full.inn,
        )

    def close(self) -> None:
        """Close the port; idempotent. Any later call opens it again."""
        self._settings.clear()
        self.link.close()

    # --- status ------------------------------------------------------------------------------------

    def status(self) -> DeviceStatus:
        """10h short status: mode, sub-mode (paper), flags."""
        return answers.decode_short_status(self._cashier(commands.SHORT_STATUS))

    def full_status(self) -> FullStatus:
        """11h full status: serial number, INN, device clock, last closed shift."""
        return answers.decode_full_status(self._cashier(commands.FULL_STATUS))

    def device_clock(self) -> datetime:
        """The device's own date and time now (11h full status; naive, the device's local time, seconds)."""
        return self.full_status().device_datetime

    def registration(self) -> Registration | None:
        """FF09 registration totals (registration number, INN), or ``None`` if the device refuses it."""
        try:
            return answers.decode_registration(self._admin(commands.FN_FISCALIZATION_TOTALS))
        except DeviceError:
            return None

    def read_table(self, table: int, row: int, field: int) -> bytes:
        """1Fh: the raw value of ``table``/``row``/``field`` (system administrator's password)."""
        return self._call(commands.read_table(self.password_admin, table, row, field))

    def setting(self, table: int, row: int, field: int) -> int | None:
        """A table field as an integer (LE), read once per connection; ``None`` when the firmware refuses
        it (older firmware without the field)."""
        key = (table, row, field)
        if key not in self._settings:
            raw = self._table_field(table, row, field)
            self._settings[key] = None if raw is None else int.from_bytes(raw, "little")
        return self._settings[key]

    def _table_field(self, table: int, row: int, field: int) -> bytes | None:
        """:meth:`read_table`, or ``None`` when the firmware refuses the field."""
        try:
            return self.read_table(table, row, field)
        except DeviceError:
            return None

    def set_datetime(self, value: datetime) -> None:
        """Set the device clock to ``value`` (naive, device-local, to the second): 22h date, 23h confirm
        it, then 21h time, all with the system administrator's password — the order of javapos
        ``SMFiscalPrinterImpl.deviceReset`` and OPOS ``FiscalPrinterDevice.pas``.

        The device refuses while a shift is open (error 73h "not in this mode", a
        :class:`DeviceStateError`): close the shift first. If 22h/23h succeed and 21h fails, the
        device has the new date and its old time of day; calling again is safe.
        """
        day = value.date()
        self._call(commands.set_date(self.password_admin, day))
        self._call(commands.confirm_date(self.password_admin, day))
        self._call(commands.set_time(self.password_admin, value.time()))

    # --- shift and receipts ------------------------------------------------------------------------

    def open_shift(self) -> None:
        """E0h: open a shift."""
        self._cashier(commands.OPEN_SHIFT)

    def fiscalize(self, receipt: ReceiptIn, tax_system: TaxSystem) -> FiscalResult:
        """Fiscalize a validated receipt: 8Dh, one FF46 per line, FF0C tags (cashier, contact), FF40, FF45.

        Contract (exactly-once):

        * An error **before** the close command propagates as itself (:class:`DeviceError`,
          :class:`LinkError`, :class:`ProtocolError`). Nothing was fiscalized, but a receipt may be
          left open on the device: the caller cancels it (:meth:`cancel_receipt`) before anything else.
        * Once the close command (FF45) has been written to the port, **anything** but a clean success
          answer — timeout, port gone, a torn answer, even a device error such as 6Bh paper out, which
          real firmware returns after the FN already signed, or an unexpected bug — raises
          :class:`OutcomeUnknown` with the original error in ``.cause`` (a non-KKT exception is wrapped
          in a :class:`ProtocolError`). The caller must not fiscalize the receipt again; it asks the
          FN (:meth:`fn_status` last FD number, :meth:`find_document`) what happened.
        * An error raised before the close frame left the host (the port could not be opened, no
          reply to ENQ) propagates as itself: the device never saw the close command.

        The shift and receipt numbers come from FF40, read while the receipt is open (FF40's receipt
        number is the number the next closed receipt gets).
        """
        bodies = self._encode(receipt, tax_system)
        self._call(bodies.open)
        for line in bodies.lines:
            for body in line:
                self._call(body)
        for body in bodies.tags:
            self._call(body)
        shift = self.shift_params()
        closed = self._close(bodies.close)
        when = closed.fiscal_datetime
        if when is None:  # older firmware: the FN archive has the date-time
            try:
                when = self.find_document(closed.fd_number).doc_datetime
            except Exception as exc:  # signed already: whatever fails now, the outcome is "ask the FN"
                raise _unknown(exc) from exc
        return FiscalResult(
            fd_number=closed.fd_number,
            fiscal_sign=closed.fiscal_sign,
            fiscal_datetime=when,
            shift_number=shift.shift_number,
            receipt_number=shift.receipt_number,
            change_kop=closed.change_kop,
        )

    def _encode(self, receipt: ReceiptIn, tax_system: TaxSystem) -> ReceiptBodies:
        """Every body of the receipt, or :class:`NotEncodable` before anything is sent: a rate whose tax
        byte the vendor's sources do not settle, a name outside cp1251, 20 % on a device that turns row 1
        into 22 % at this date (:meth:`_refuse_row1_as_22`), or 22 % on a device that wants the taxes from
        the software (T1П14 = 1: no source gives 22 % an FF45 slot)."""
        try:
            bodies = receipt_codec.receipt_bodies(
                Passwords(self.password_cashier, self.password_admin), receipt, tax_system, self.model
            )
        except RateNotEncodable as exc:
            raise NotEncodable(commands.OPERATION_V2, exc.reason) from exc
        except ProtocolError as exc:
            raise NotEncodable(commands.OPERATION_V2, f"не кодируется для ККТ / not encodable: {exc}") from exc
        vats = {item.vat for item in receipt.items}
        if vats & ROW1_RATES:
            self._refuse_row1_as_22()
        if vats & NO_SLOT_RATES and self.setting(TAX_MODE_TABLE, TAX_MODE_ROW, TAX_MODE_FIELD) == TAX_MODE_BY_SOFTWARE:
            raise NotEncodable(
                commands.OPERATION_V2,
                "ККТ ждёт суммы налогов от ПО (Т1П14=1), а для НДС 22% в FF45 нет поля; установите Т1П14=0 / "
                "the device wants tax sums from the software (table 1 field 14 = 1) and FF45 has no 22 % slot",
            )
        return bodies

    def _refuse_row1_as_22(self) -> None:
        """NotEncodable when the device replaces row 1 (20 %) by 22 % (T17П71 = 1) and its date is in 2026 or
        later: such a line would be fiscalized at 22 % while the receipt says 20 %. Firmware without the field
        (it refuses 1Fh) predates 22 % and never replaces."""
        if self.setting(VAT_MODE_TABLE, VAT_MODE_ROW, VAT_MODE_FIELD) != VAT_MODE_AUTO_22:
            return
        if self.device_clock().date() >= VAT22_FROM:
            raise NotEncodable(
                commands.OPERATION_V2,
                "ККТ заменяет НДС 20% на 22% (Т17П71=1): строка по 20% ушла бы по 22%; установите Т17П71=2 / "
                "the device turns VAT 20 % into 22 % (table 17 field 71 = 1): set it to 2 to fiscalize 20 %",
            )

    def _close(self, body: bytes) -> CloseAnswer:
        try:
            return answers.decode_close_v2(self._call(body))
        except Exception as exc:  # after the frame went out *any* failure means "outcome unknown"
            if not self.link.frame_sent:
                raise
            raise _unknown(exc) from exc

    def cancel_receipt(self) -> None:
        """88h: cancel the open receipt."""
        self._cashier(commands.CANCEL_RECEIPT)

    def x_report(self) -> None:
        """40h: X report (shift totals without closing it)."""
        self._admin(commands.X_REPORT)

    def z_report(self) -> None:
        """41h: Z report = close the shift."""
        self._admin(commands.Z_REPORT)

    def continue_printing(self) -> None:
        """B0h: finish printing after paper was put back (sub-mode 3)."""
        self._cashier(commands.CONTINUE_PRINTING)

    def print_line(self, text: str) -> None:
        """17h: print one non-fiscal line on the receipt tape."""
        self._call(commands.print_line(self.password_cashier, text))

    # --- FN ----------------------------------------------------------------------------------------

    def fn_status(self) -> FnStatus:
        """FF01: FN phase, current document, shift flag, warnings, last FD number."""
        return answers.decode_fn_status(self._admin(commands.FN_STATUS))

    def fn_expiry(self) -> FnExpiry:
        """FF03: FN expiry date."""
        return answers.decode_fn_expiry(self._admin(commands.FN_EXPIRY))

    def exchange_status(self) -> ExchangeStatus:
        """FF39: the OFD backlog (unsent count, first unsent number and date-time)."""
        return answers.decode_exchange_status(self._admin(commands.FN_EXCHANGE_STATUS))

    def ofd_link(self) -> OfdLink:
        """Table 21 row 1 field 2 (exchange mode) and table 19 row 1 fields 1–2 (OFD server, 64-byte string;
        port, 2-byte integer LE: javapos ``MonitoringCommands.getFDOSettingsText`` and its table dump). A
        field the device refuses reads as None."""
        mode = self._table_field(21, 1, 2)
        server = self._table_field(19, 1, 1)
        port = self._table_field(19, 1, 2)
        host = server.split(b"\0", 1)[0].decode("cp1251", errors="replace").strip() if server else None
        return OfdLink(
            exchange_mode=None if not mode else int.from_bytes(mode, "little"),
            host=host or None,
            port=None if not port else int.from_bytes(port, "little") or None,
        )

    def unconfirmed_count(self) -> int:
        """FF3F: number of documents without an OFD ticket."""
        return answers.decode_unconfirmed_count(self._admin(commands.FN_UNCONFIRMED_COUNT))

    def shift_params(self) -> ShiftParams:
        """FF40: shift state and number, number of the next receipt."""
        return answers.decode_shift_params(self._admin(commands.FN_SHIFT_PARAMS))

    def find_document(self, fd_number: int) -> FnDocument:
        """FF0A: the FN archive's document ``fd_number``; :class:`DeviceRejected` code 08h if absent."""
        return answers.decode_find_document(self._call(commands.find_document(self.password_admin, fd_number)))

    def ofd_ticket(self, fd_number: int) -> bytes:
        """FF3C: the raw OFD ticket stored for ``fd_number``."""
        return self._call(commands.ofd_ticket(self.password_admin, fd_number))

    def settlement_report(self) -> SettlementReport:
        """FF37 → FF38: print the settlement-state report (the unconfirmed backlog)."""
        self._admin(commands.FN_SETTLEMENT_BEGIN)
        return answers.decode_settlement_report(self._admin(commands.FN_SETTLEMENT_BUILD))

    # --- OFD exchange relayed by the host (javapos SMFiscalPrinterImpl.fsReadBlockData/fsWriteBlockData) ---

    def read_ofd_message(self) -> bytes | None:
        """FF30, FF31 blocks of at most the FN's maxBlock, FF30 again: the FN's current OFD message (session
        header + container) unchanged, or ``None`` when its size (or block size) is 0.

        Reading does not remove it. :class:`OfdMessageChanged` when the FN's size changed between the first
        FF30 and the last FF31 (the message's own body length disagrees, a block comes back short, or the
        closing FF30 names another non-zero size): read again later.
        """
        size, block = answers.decode_ofd_read_status(self._admin(commands.FN_OFD_READ_STATUS))
        if size == 0 or block == 0:
            return None
        step = min(block, commands.OFD_READ_MAX_BYTES)
        message = bytearray()
        for offset in range(0, size, step):
            count = min(step, size - offset)
            chunk = self._call(commands.ofd_read_block(self.password_admin, offset, count))
            if len(chunk) != count:
                raise OfdMessageChanged(f"FF31 at {offset}: {len(chunk)} bytes instead of {count}")
            message += chunk
        _check_session_length(bytes(message), size)
        after, _ = answers.decode_ofd_read_status(self._admin(commands.FN_OFD_READ_STATUS))
        if after not in (0, size):  # 0: an FN may report nothing pending once the message was read whole
            raise OfdMessageChanged(f"FF30 said {size} bytes before the read and {after} after it")
        return bytes(message)

    def write_ofd_answer(self, answer: bytes) -> None:
        """FF32 with the total length, then FF33 blocks of the FN's block size: ``answer`` (the OFD's whole
        answer, session header included) into the FN unchanged. Call it under the device lock with no
        receipt open: the whole answer goes in one sequence of commands.

        An FN error (codes 01h–2Fh: a refused ticket, a wrong state) raises :class:`DeviceRejected` with the
        FN's code; KKT errors (busy, mode) and link failures propagate as they are.
        """
        if not answer:
            raise ProtocolError("an empty OFD answer cannot be written into the FN")
        try:
            begin = commands.ofd_answer_begin(self.password_admin, len(answer))
            block_size = answers.decode_ofd_answer_begin(self._call(begin))
            for offset, chunk in commands.ofd_answer_blocks(answer, block_size):
                self._call(commands.ofd_answer_block(self.password_admin, offset, chunk))
        except DeviceError as exc:
            if isinstance(exc, DeviceRejected) or not FN_ERROR_CODES[0] <= exc.code <= FN_ERROR_CODES[1]:
                raise
            raise DeviceRejected(exc.command, exc.code, exc.text) from exc


def _check_session_length(message: bytes, size: int) -> None:
    """The session header's body length (bytes 24–25, LE) must match the size FF30 announced."""
    if len(message) >= SESSION_HEADER_BYTES:
        said = int.from_bytes(message[24:26], "little") + SESSION_HEADER_BYTES
        if said != size:
            raise OfdMessageChanged(f"FF30 said {size} bytes, the message's session header says {said}")


if TYPE_CHECKING:
    _CONFORMS: type[KktDevice] = ShtrihDriver  # mypy proves the driver implements the interface
