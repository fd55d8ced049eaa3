"""The in-process emulator: model + link layer + pty, run in one background thread.

Thread safety: every public method may be called from any thread; one lock guards the state and the
faults, and the state file is rewritten (atomically) after every change, under that lock.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from kkt_adapter.emulator import fn
from kkt_adapter.emulator.commands import make_device
from kkt_adapter.emulator.faults import Faults
from kkt_adapter.emulator.framing import split_code
from kkt_adapter.emulator.link import LinkLayer, Reply
from kkt_adapter.emulator.modes import Mode, SubMode
from kkt_adapter.emulator.port import PtyPort
from kkt_adapter.emulator.snapshot import snapshot
from kkt_adapter.emulator.state import DeviceConfig, FnDocument, load_state, new_state
from kkt_adapter.emulator.statefile import StateFile
from kkt_adapter.emulator.wire import E_BUSY

_log = logging.getLogger(__name__)
POLL_S = 0.02
OFD_RELAY_CODES = frozenset({b"\xff\x30", b"\xff\x31", b"\xff\x32", b"\xff\x33"})  # slowed by ofd_delay_ms
START_TIMEOUT_S = 5.0


class Emulator:
    """A virtual Shtrih-M KKT on a pty published at ``link_path``, its FN persisted in ``state_path``.

    ``config`` applies only when ``state_path`` does not exist yet. ``clock`` returns the real local
    time (naive); the device clock is ``clock() + clock offset``. ``fsync=False`` skips the fsyncs of
    the state file (still atomic; for benchmarks). ``byte_timeout_s`` is the gap allowed between the
    bytes of one incoming frame.
    """

    def __init__(
        self,
        link_path: str | Path,
        state_path: str | Path,
        *,
        config: DeviceConfig | None = None,
        baud_delay: bool = False,
        print_delay_ms: int = 0,
        byte_timeout_s: float = 0.1,
        fsync: bool = True,
        clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.link_path = Path(link_path)
        self.state_path = Path(state_path)
        self._clock = clock
        self._file = StateFile(self.state_path, fsync=fsync)
        self._lock = threading.RLock()
        self.faults = Faults(baud_delay=baud_delay, print_delay_ms=print_delay_ms)
        self._state = load_state(self.state_path) or new_state(config or DeviceConfig(), clock())
        self._device = make_device(self._state, self.faults)
        self._port = PtyPort(self.link_path)
        self._link = LinkLayer(self._port, self, byte_timeout_s)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._vanish_until: float | None = None  # monotonic deadline; inf = until restore_port()
        self._vanish_requested = False
        self._port_ready = threading.Event()
        self.commands_executed = 0

    def _save(self) -> None:
        self._file.save(self._state)

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The serial port path clients open (the symlink)."""
        return str(self.link_path)

    def start(self) -> Emulator:
        """Persist the state, open the pty, start the loop thread; return self."""
        with self._lock:
            self._save()
        self._port.open()
        self._port_ready.set()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"kkt-emulator {self.link_path}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the loop, close the pty and remove the symlink; idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=START_TIMEOUT_S)
            self._thread = None
        self._port.close()
        self._port_ready.clear()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._loop_once()
            except Exception:  # a bug must not silently kill the device thread; it is logged
                _log.exception("emulator loop error")
                self._link.reset()

    def _loop_once(self) -> None:
        if self._vanish_requested:
            self._do_vanish()
        if self._vanish_until is not None:
            if time.monotonic() < self._vanish_until:
                self._stop.wait(POLL_S)
                return
            self._do_restore()
        self._link.step(POLL_S)

    def _do_vanish(self) -> None:
        self._vanish_requested = False
        self._port_ready.clear()
        self._port.close()
        self._link.reset()

    def _do_restore(self) -> None:
        self._vanish_until = None
        self._port.open()
        self._port_ready.set()

    # --- link hooks (called from the loop thread) -----------------------------------------------

    def execute_frame(self, body: bytes) -> Reply:
        """Execute one received frame body, applying busy / lost answer / bad LRC / print delay."""
        with self._lock:
            self.commands_executed += 1
            faults = self.faults
            if faults.busy_commands > 0:
                faults.busy_commands -= 1
                return Reply(_code_of(body) + bytes([E_BUSY]))
            outcome = self._device.execute(body, self.now())
            if outcome.changed:
                self._save()
            delay = outcome.printed_lines * faults.print_delay_ms / 1000
            if body[:2] in OFD_RELAY_CODES:
                delay += faults.ofd_delay_ms / 1000
            if outcome.is_close and outcome.changed and faults.lose_close_answer:
                faults.lose_close_answer = False
                return Reply(None, delay)
            corrupt, faults.bad_lrc_next_answer = faults.bad_lrc_next_answer, False
            return Reply(outcome.answer, delay, corrupt)

    def silent(self) -> bool:
        """True while the "silence" fault is on."""
        return self.faults.silence

    def byte_time_s(self) -> float:
        """Seconds per byte (10 bits) at the client's baud rate when pacing is on, else 0."""
        if not self.faults.baud_delay:
            return 0.0
        baud = self._port.baud()
        return 10 / baud if baud else 0.0

    # --- state ----------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The device clock: real clock + offset."""
        return self._clock() + timedelta(seconds=self._state.clock_offset_s)

    def snapshot(self) -> dict[str, Any]:
        """Everything ``GET /state`` shows, JSON-ready."""
        with self._lock:
            return snapshot(self._device, self.now(), self._port.is_open, self._port.slave_name)

    @property
    def last_fd(self) -> int:
        """Number of the last document signed by the FN (the FD counter)."""
        with self._lock:
            return self._state.last_fd

    @property
    def archive(self) -> list[FnDocument]:
        """Copies of every FN document, by FD number."""
        with self._lock:
            return copy.deepcopy(self._state.documents)

    @property
    def unsent_count(self) -> int:
        """Documents not yet confirmed by the OFD."""
        with self._lock:
            return len(self._state.unconfirmed())

    @property
    def shift_number(self) -> int:
        """The open shift's number, or the last closed one's."""
        with self._lock:
            return self._state.shift_number

    @property
    def shift_open(self) -> bool:
        """True while a shift is open."""
        with self._lock:
            return self._state.shift_open

    @property
    def receipt_open(self) -> bool:
        """True while a receipt is open."""
        with self._lock:
            return self._state.receipt is not None

    @property
    def mode(self) -> Mode:
        """Low nibble of the mode byte as 10h would report it now."""
        with self._lock:
            self._device.now = self.now()
            return Mode(self._device.mode_byte() & 0x0F)

    @property
    def sub_mode(self) -> SubMode:
        """The sub-mode 10h would report now."""
        with self._lock:
            return self._device.sub_mode()

    def is_fn_blocked(self) -> bool:
        """True while the 30-day OFD block refuses new fiscal documents."""
        with self._lock:
            return fn.is_blocked(self._state, self.now())

    # --- control --------------------------------------------------------------------------------

    def set_faults(self, **changes: Any) -> dict[str, Any]:
        """Set any :class:`Faults` switches by name (ValueError on a bad one); return all switches."""
        with self._lock:
            self.faults.update(changes)
            return self.faults.as_dict()

    def clear_faults(self) -> None:
        """Back to a healthy device (keeps baud pacing and print delay)."""
        with self._lock:
            keep = {"baud_delay": self.faults.baud_delay, "print_delay_ms": self.faults.print_delay_ms}
            self.faults.update({**Faults().as_dict(), **keep})

    def set_paper_out(self, out: bool = True) -> None:
        """Take the paper out (True) or put it back (False)."""
        self.set_faults(paper_out=out)

    def paper_out_after_next_close(self) -> None:
        """One-shot: the next close (FF45/85h) signs the receipt, then answers 0x6B (sub-mode 2)."""
        self.set_faults(paper_out_after_sign=True)

    def lose_next_close_answer(self) -> None:
        """One-shot: the next close executes and signs, but its answer is never sent (nor resent)."""
        self.set_faults(lose_close_answer=True)

    def corrupt_next_answer(self) -> None:
        """One-shot: the next answer frame goes out with a wrong LRC (a NAK + ENQ gets it right)."""
        self.set_faults(bad_lrc_next_answer=True)

    def busy(self, commands: int) -> None:
        """The next ``commands`` frames answer 0x50 and are not executed."""
        self.set_faults(busy_commands=commands)

    def set_silence(self, on: bool = True) -> None:
        """Ignore all input (True) until switched off."""
        self.set_faults(silence=on)

    def set_clock_offset(self, seconds: float) -> None:
        """Set the device clock to real clock + ``seconds`` (persisted)."""
        with self._lock:
            self._state.clock_offset_s = float(seconds)
            self._save()

    def advance_clock(self, seconds: float) -> None:
        """Move the device clock forward by ``seconds`` (persisted)."""
        with self._lock:
            self.set_clock_offset(self._state.clock_offset_s + seconds)

    def ofd_ack(self, up_to: int | None = None) -> int:
        """Record OFD tickets for documents with FD ≤ ``up_to`` (None: all); return how many."""
        with self._lock:
            count = fn.confirm_up_to(self._state, self._state.last_fd if up_to is None else up_to, self.now())
            if count:
                self._save()
            return count

    def replace_fn(self, fn_serial: str | None = None) -> str:
        """A technician's FN replacement and re-registration: a new FN (``fn_serial``, default the old serial
        + 1) with an empty archive, its FD counter back at 0, a new expiry; the KKT's own counters, clock and
        cash stay. ValueError while a shift or a receipt is open (a KKT re-registers with the shift closed).
        Returns the new serial."""
        with self._lock:
            state = self._state
            if state.shift_open or state.receipt is not None:
                raise ValueError("close the shift first: the FN is replaced with the shift closed")
            serial = fn_serial or f"{int(state.config.fn_serial) + 1:016d}"
            if len(serial) != 16 or not serial.isdigit() or serial == state.config.fn_serial:
                raise ValueError(f"a new FN serial must be 16 digits and differ from the old one: {serial!r}")
            fresh = new_state(dataclasses.replace(state.config, fn_serial=serial, fn_expires_on=None), self.now())
            state.config, state.fn_expires_on, state.registered_at = (
                fresh.config,
                fresh.fn_expires_on,
                fresh.registered_at,
            )
            state.last_fd, state.shift_number, state.shift_opened_at, state.receipts_in_shift = 0, 0, None, 0
            state.print_interrupted, state.documents = False, []
            self._save()
            return serial

    def vanish_port(self, seconds: float | None = None) -> None:
        """Remove the symlink and close the pty; a new pty appears after ``seconds`` (None: on restore)."""
        self._vanish_until = float("inf") if seconds is None else time.monotonic() + seconds
        self._vanish_requested = True

    def restore_port(self) -> None:
        """Bring a vanished port back now (on a new pty, same symlink)."""
        if self._vanish_until is not None:
            self._vanish_until = 0.0

    def wait_port(self, present: bool, timeout_s: float) -> bool:
        """Wait until the port is present (or gone); return whether it happened within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._port_ready.is_set() == present and not self._vanish_requested:
                return True
            time.sleep(0.01)
        return False


def _code_of(body: bytes) -> bytes:
    split = split_code(body)
    return split[0] if split else body[:1]
