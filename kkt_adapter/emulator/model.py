"""The emulated device's command layer: one request body in, one answer body out.

:class:`Device` is pure apart from its state object: it takes ``now`` as an argument, never sleeps and
never touches the port. The caller serializes calls (one lock), persists the state when
:attr:`Outcome.changed` is set, and applies the link-level faults (lost answer, bad LRC, busy, delays).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from kkt_adapter.emulator import fn
from kkt_adapter.emulator.faults import Faults
from kkt_adapter.emulator.framing import code_value, split_code
from kkt_adapter.emulator.modes import Mode, SubMode
from kkt_adapter.emulator.ofd_queue import OfdExchange
from kkt_adapter.emulator.state import EmulatorState
from kkt_adapter.emulator.wire import (
    E_BAD_PARAMS,
    E_MODE,
    E_NO_PAPER,
    E_NOT_SUPPORTED,
    E_PASSWORD,
    E_RECEIPT_OPEN,
    E_SHIFT_24H,
    E_SHIFT_NOT_OPEN,
    E_WAIT_CONTINUE,
    Access,
    CommandError,
    Params,
)

SHIFT_LIMIT = timedelta(hours=24)
CLOSE_COMMANDS = frozenset({0x85, 0xFF45})

Handler = Callable[["Device", Params], bytes]


@dataclass(frozen=True)
class Outcome:
    """What executing one request produced."""

    answer: bytes  # the answer body: command code, error byte, data
    error: int
    printed_lines: int
    changed: bool  # the persistent state changed (even when ``error`` is non-zero)
    is_close: bool  # the request was a close-receipt command (85h or FF45h)


class Device:
    """Executes Shtrih-M command bodies against an :class:`EmulatorState`; not thread-safe."""

    def __init__(self, state: EmulatorState, faults: Faults, handlers: Mapping[int, tuple[Handler, Access]]) -> None:
        self.state = state
        self.handlers = handlers
        self.faults = faults
        self.now = datetime.min
        self.operator = 0
        self._changed = False
        self._printed = 0
        self.ofd = OfdExchange()  # the FN's relay buffers (FF30–FF33), volatile
        self.date_pending: date | None = None  # 22h set it, 23h confirms it (mode 6 until then)

    def execute(self, body: bytes, now: datetime) -> Outcome:
        """Run one request body at device time ``now`` and build its answer."""
        self.now, self.operator, self._changed, self._printed = now, 0, False, 0
        split = split_code(body)
        if split is None:
            return Outcome(bytes([body[0] if body else 0, E_NOT_SUPPORTED]), E_NOT_SUPPORTED, 0, False, False)
        code_raw, data = split
        code = code_value(code_raw)
        entry = self.handlers.get(code)
        try:
            if entry is None:
                raise CommandError(E_NOT_SUPPORTED)
            handler, access = entry
            params = Params(data)
            if access is not Access.NONE:
                password = params.uint(4)
                if not access.allows(password):
                    raise CommandError(E_PASSWORD)
                self.operator = password
            answer = code_raw + b"\x00" + handler(self, params)
            error = 0
        except CommandError as exc:
            answer, error = code_raw + bytes([exc.code]), exc.code
        return Outcome(answer, error, self._printed, self._changed, code in CLOSE_COMMANDS)

    # --- helpers for handlers -------------------------------------------------------------------

    def touch(self) -> None:
        """Mark the persistent state as changed."""
        self._changed = True

    def printed(self, lines: int) -> None:
        """Record ``lines`` printed lines (the caller applies the per-line print delay)."""
        self._printed += lines

    def shift_expired(self) -> bool:
        """True when the open shift is older than 24 hours."""
        opened = self.state.shift_opened_at
        return self.state.shift_open and opened is not None and self.now - opened > SHIFT_LIMIT

    def mode_byte(self) -> int:
        """Mode (low nibble) and its status (high nibble; the receipt type in mode 8)."""
        if self.date_pending is not None:
            return int(Mode.WAIT_DATE)
        if self.state.receipt is not None:
            return int(Mode.OPEN_DOCUMENT) | (self.state.receipt.receipt_type << 4)
        if self.state.shift_open:
            return int(Mode.SHIFT_EXPIRED if self.shift_expired() else Mode.SHIFT_OPEN)
        return int(Mode.SHIFT_CLOSED)

    def sub_mode(self) -> SubMode:
        """Paper state: 1 no paper, 2 no paper with a print interrupted, 3 waiting for B0, else 0."""
        if self.faults.paper_out:
            return SubMode.PAPER_OUT_ACTIVE if self.state.print_interrupted else SubMode.PAPER_OUT_PASSIVE
        if self.state.print_interrupted:
            return SubMode.WAIT_CONTINUE
        return SubMode.PAPER_OK

    def flags(self) -> int:
        """Status flags (10h/11h): 0x0292 idle with paper (as a real device); bits 1 and 7 clear without."""
        return 0x0210 if self.faults.paper_out else 0x0292

    def need_printer(self) -> None:
        """Refuse a printing command: paper out → 0x6B, waiting for B0 → 0x58."""
        if self.faults.paper_out:
            raise CommandError(E_NO_PAPER)
        if self.state.print_interrupted:
            raise CommandError(E_WAIT_CONTINUE)

    def need_open_shift(self) -> None:
        """Refuse unless the shift is open and not older than 24 h (0x3D / 0x4E)."""
        if not self.state.shift_open:
            raise CommandError(E_SHIFT_NOT_OPEN)
        if self.shift_expired():
            raise CommandError(E_SHIFT_24H)

    def need_fn_unblocked(self) -> None:
        """Refuse a new fiscal document while the 30-day OFD block is on (FN error 0x15 or 0x14)."""
        if fn.is_blocked(self.state, self.now):
            raise CommandError(self.faults.fn_block_code)

    def need_no_receipt(self) -> None:
        """Refuse while a receipt is open (0x4A)."""
        if self.state.receipt is not None:
            raise CommandError(E_RECEIPT_OPEN)

    def need_mode(self, ok: bool) -> None:
        """Refuse with 0x73 (not in this mode) unless ``ok``."""
        if not ok:
            raise CommandError(E_MODE)

    @staticmethod
    def need(ok: bool) -> None:
        """Refuse with 0x33 (bad parameters) unless ``ok``."""
        if not ok:
            raise CommandError(E_BAD_PARAMS)
