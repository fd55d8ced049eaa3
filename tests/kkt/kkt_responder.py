"""A throw-away Shtrih-M responder on a real pty, for testing the host side of the link.

It follows the device rules of ``reference/kkt-protocol.md`` §1.4/§6 (ENQ → NAK idle / ACK + the
pending answer, bad LRC → NAK, ACK clears the answer, never re-executes a repeated answer) and
delegates the meaning of each command to a ``handler(body) -> answer body``. Fault knobs are plain
attributes, read by the responder thread on every frame.
"""

from __future__ import annotations

import os
import pty
import select
import threading
import tty
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kkt_adapter.kkt.link_config import LinkPolicy
from kkt_adapter.kkt.protocol.frame import ACK, ENQ, NAK, STX, code_bytes, command_code, encode_frame, lrc

Handler = Callable[[bytes], bytes]

# A link policy short enough for fault tests, long enough for a loaded CI machine.
FAST = LinkPolicy(
    byte_timeout_s=0.2,
    enq_timeout_s=0.3,
    ack_timeout_s=0.3,
    write_timeout_s=1.0,
    answer_default_s=0.6,
    answer_timeouts_s={},
    busy_delay_s=0.01,
    busy_retries=5,
)


def echo_ok(body: bytes) -> bytes:
    """Answer every command with its code, error 0 and an operator byte."""
    code = body[:2] if body[0] == 0xFF else body[:1]
    return code + b"\x00\x1e"


@dataclass
class Faults:
    """Counters of faults still to inject (each decremented when used)."""

    nak_frames: int = 0  # NAK a good command frame (host must resend)
    corrupt_answers: int = 0  # send the answer with a wrong LRC
    busy: int = 0  # answer 50h without executing
    lost_answers: int = 0  # execute, keep the answer pending, but do not send it
    dropped_answers: int = 0  # execute and forget the answer entirely
    swallowed_frames: int = 0  # take a frame silently: no ACK, no execution
    stray_before_reply: bytes = b""  # bytes sent before every ACK/NAK reply
    mute: bool = False  # ignore everything


class PtyResponder:
    """A fake device on a pty published at ``path`` (a symlink), answering through ``handler``."""

    def __init__(self, handler: Handler, path: Path) -> None:
        self.handler = handler
        self.path = path
        self.faults = Faults()
        self.executed: list[bytes] = []
        self.received: list[bytes] = []
        self._pending: bytes | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._master = self._slave = -1
        self._unplug = False

    def unplug_after_this_command(self) -> None:
        """Called from a handler: execute the command, then close the pty without answering."""
        self._unplug = True

    def start(self) -> None:
        """Create a pty, point the symlink at it, start answering."""
        self._master, self._slave = pty.openpty()
        tty.setraw(self._slave)
        tty.setraw(self._master)
        self.path.unlink(missing_ok=True)
        self.path.symlink_to(os.ttyname(self._slave))
        self._stop.clear()
        self._unplug = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop answering and close the pty (the host sees the port vanish); remove the symlink."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1
        self.path.unlink(missing_ok=True)

    def _read(self, timeout_s: float) -> int | None:
        ready, _, _ = select.select([self._master], [], [], timeout_s)
        if not ready:
            return None
        try:
            data = os.read(self._master, 1)
        except OSError:
            return None
        return data[0] if data else None

    def _write(self, data: bytes) -> None:
        os.write(self._master, data)

    def _reply(self, control: int) -> None:
        self._write(self.faults.stray_before_reply + bytes([control]))

    def _run(self) -> None:
        while not self._stop.is_set():
            byte = self._read(0.05)
            if byte is None or self.faults.mute:
                continue
            if byte == ENQ:
                self._on_enq()
            elif byte == STX:
                self._on_frame()
            elif byte == ACK:
                self._pending = None

    def _on_enq(self) -> None:
        if self._pending is None:
            self._reply(NAK)
        else:
            self._reply(ACK)
            self._send_answer()

    def _on_frame(self) -> None:
        raw = bytearray()
        for _ in range(2):  # LEN, then at least one more byte read below
            byte = self._read(0.5)
            if byte is None:
                return
            raw.append(byte)
        while len(raw) < raw[0] + 2:
            byte = self._read(0.5)
            if byte is None:
                self._reply(NAK)
                return
            raw.append(byte)
        body, check = bytes(raw[1:-1]), raw[-1]
        if lrc(bytes(raw[:-1])) != check:
            self._reply(NAK)
            return
        self._execute(body)

    def _execute(self, body: bytes) -> None:
        faults = self.faults
        if faults.swallowed_frames:
            faults.swallowed_frames -= 1
            return
        if faults.nak_frames:
            faults.nak_frames -= 1
            self._reply(NAK)
            return
        self._reply(ACK)
        self.received.append(body)
        if faults.busy:
            faults.busy -= 1
            self._pending = code_bytes(command_code(body)) + b"\x50"
        else:
            self.executed.append(body)
            self._pending = self.handler(body)
        if self._unplug:
            self._stop.set()
            for fd in (self._master, self._slave):
                os.close(fd)
            self._master = self._slave = -1
            return
        if faults.dropped_answers:
            faults.dropped_answers -= 1
            self._pending = None
            return
        if faults.lost_answers:
            faults.lost_answers -= 1
            return
        self._send_answer()

    def _send_answer(self) -> None:
        assert self._pending is not None
        frame = encode_frame(self._pending)
        if self.faults.corrupt_answers:
            self.faults.corrupt_answers -= 1
            frame = frame[:-1] + bytes([frame[-1] ^ 0x5A])
        self._write(frame)
