"""The whole contract between the pipeline and a device family: :class:`KktDevice`.

A family (Shtrih-M today: :class:`kkt_adapter.kkt.driver.ShtrihDriver`; ATOL next) implements this
protocol with the types of :mod:`kkt_adapter.kkt.types` and the errors of :mod:`kkt_adapter.kkt.errors`.
These three modules are family-neutral: they import no family's link, codec or error table, and the
pipeline imports nothing else of :mod:`kkt_adapter.kkt` (a test checks it), so a second family plugs in
by writing a driver and a factory, without touching the pipeline.

Calling convention: an implementation is blocking and used by one thread at a time (the pipeline runs
every call on the device's own I/O thread). Dates and times passed or returned are naive local times of
the device's clock. Every method raises only errors of :mod:`kkt_adapter.kkt.errors`:

* :class:`~.errors.LinkError` / :class:`~.errors.ProtocolError`: the link failed, the outcome of the
  command in flight is unknown; the caller reconnects (any later call reopens the port).
* :class:`~.errors.DeviceStateError`: a state a person must fix (paper, cover, shift, FN block); retry later.
* :class:`~.errors.DeviceRejected`: the device refused the content; do not send the same request again.
* :class:`~.errors.OutcomeUnknown`: only from :meth:`KktDevice.fiscalize`, see there.
* :class:`~.errors.NotSupported`: the family (or this device's firmware) lacks the operation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

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
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem


class KktDevice(Protocol):
    """One fiscal device (printer + FN) of any family, as the pipeline uses it."""

    # --- connection --------------------------------------------------------------------------------

    def connect(self) -> DeviceInfo:
        """Open the link and identify the device (model, serials, registration)."""

    def close(self) -> None:
        """Close the link; idempotent. Any later call opens it again."""

    # --- status ------------------------------------------------------------------------------------

    def status(self) -> DeviceStatus:
        """The short status: mode, paper state, cover."""

    # --- receipts (exactly-once rule 2 rests on fiscalize's contract) ------------------------------

    def fiscalize(self, receipt: ReceiptIn, tax_system: TaxSystem) -> FiscalResult:
        """Open, fill and close one receipt; the FN's signature of it.

        An error before the close command went out propagates as itself (nothing was signed; a receipt
        may be left open: :meth:`cancel_receipt` before anything else). Once the close command went
        out, anything but a clean answer raises :class:`~.errors.OutcomeUnknown`: never send the receipt
        again; the FN archive (:meth:`fn_status`, :meth:`find_document`) decides.
        """

    def cancel_receipt(self) -> None:
        """Cancel the receipt left open on the device (nothing is signed)."""

    def continue_printing(self) -> None:
        """Finish a print interrupted by paper out, after paper was put back."""

    # --- shift and reports -------------------------------------------------------------------------

    def open_shift(self) -> None:
        """Open a shift (an FN document)."""

    def x_report(self) -> None:
        """Print the shift totals without closing the shift."""

    def z_report(self) -> None:
        """Close the shift (an FN document)."""

    def shift_params(self) -> ShiftParams:
        """Shift state and number, the number the next receipt of the shift gets."""

    # --- FN reads (unknown outcomes, FN watch) -----------------------------------------------------

    def fn_status(self) -> FnStatus:
        """FN phase, warnings, serial and the last FD number (the intent of exactly-once rule 1)."""

    def fn_expiry(self) -> FnExpiry:
        """The FN's expiry date and re-registrations left."""

    def find_document(self, fd_number: int) -> FnDocument:
        """Document ``fd_number`` of the FN archive; :class:`~.errors.DeviceRejected` if it has none."""

    # --- OFD exchange relayed by the host ----------------------------------------------------------

    def exchange_status(self) -> ExchangeStatus:
        """The FN's OFD queue: unsent count, first unsent FD and its date-time (device time)."""

    def ofd_link(self) -> OfdLink:
        """Who the KKT thinks talks to the OFD (itself or the host), and the OFD address it holds."""

    def unconfirmed_count(self) -> int:
        """Number of FN documents without an OFD ticket."""

    def ofd_ticket(self, fd_number: int) -> bytes:
        """The OFD ticket the FN stores for ``fd_number``, as the FN returns it."""

    def read_ofd_message(self) -> bytes | None:
        """The FN's next OFD message (session header + container, unchanged), or None when none waits.

        Reading does not remove it: the FN drops it only when its answer is written. If the FN's message
        changes while it is read, a :class:`~.errors.ProtocolError` (read again later).
        """

    def write_ofd_answer(self, answer: bytes) -> None:
        """Write the OFD's answer (ticket) to the message last read into the FN, unchanged.

        The FN's refusal raises :class:`~.errors.DeviceRejected` carrying the FN's code.
        """

    # --- clock -------------------------------------------------------------------------------------

    def device_clock(self) -> datetime:
        """The device's own date-time now (naive local time of its clock): the clock of every legal
        deadline (24-hour shift, 30-day OFD block, FN expiry)."""

    def set_datetime(self, value: datetime) -> None:
        """Set the device's clock to the naive local date-time ``value`` (only with the shift closed)."""
