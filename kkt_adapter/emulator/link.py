"""Device side of the Shtrih-M link layer ("v1": ENQ/ACK/NAK, ``STX LEN BODY LRC``).

Rules (``kkt-protocol.md`` §1.4, §6):

* ENQ while idle → NAK. ENQ while an answer is unacknowledged → ACK + the same answer again; the
  command is never executed twice.
* STX → LEN, BODY, LRC, each byte within the byte timeout. Bad LRC or a truncated frame → NAK, the
  frame is discarded. A good frame → execute, ACK, send the answer (it stays pending until the host
  ACKs it; a host NAK keeps it for the next ENQ).
* Timing with baud pacing: nothing leaves before its last byte would have arrived on a real line (the
  ACK after the whole request, the answer after the ACK and the printing time). An answer that needs
  no printing time and is short (≤ :data:`MERGE_MAX_S` on the wire) goes out in the same write as its
  ACK, at the moment its last byte would arrive: the host can do nothing with the ACK but wait for that
  answer, and one write instead of two saves a wake-up of both sides (scheduling delay on a busy
  machine) per command. A longer or printing answer keeps the ACK on its own, on time.
* An ENQ that arrives while the command executes (a host that sends the frame and then ENQ without
  reading the ACK) is absorbed: the answer goes out once.
* Any other byte (e.g. a stray 0xFF) is skipped.
* Unlike a real UART, bytes the host never read stay in the pty until it reads them (a host that
  gives up on an answer should flush its input before the next ENQ, as it should on a real line).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from kkt_adapter.emulator.framing import ACK, ENQ, NAK, STX, frame, lrc

SPIN_S = 0.0002  # see _sleep_until
MERGE_MAX_S = 0.03  # the longest answer (wire time) sent in one write with its ACK: 257 bytes at 115200


@dataclass(frozen=True)
class Reply:
    """What the device does after executing a frame."""

    answer: bytes | None  # the answer body; None = the answer is lost (never sent, not pending)
    delay_s: float = 0.0  # printing time before the answer goes out
    corrupt_lrc: bool = False  # send this answer once with a wrong LRC


class BytePort(Protocol):
    """The port the link layer drives."""

    def read(self, timeout_s: float) -> bytes: ...
    def write(self, data: bytes) -> None: ...


class Hooks(Protocol):
    """What the link layer asks the device."""

    def execute_frame(self, body: bytes) -> Reply: ...
    def silent(self) -> bool: ...
    def byte_time_s(self) -> float: ...


class LinkLayer:
    """The device's link state machine; call :meth:`step` in a loop from one thread."""

    def __init__(self, port: BytePort, hooks: Hooks, byte_timeout_s: float = 0.1) -> None:
        self.port = port
        self.hooks = hooks
        self.byte_timeout_s = byte_timeout_s
        self._pending: bytes | None = None
        self._buf = bytearray()

    @property
    def pending(self) -> bytes | None:
        """The unacknowledged answer frame, if any."""
        return self._pending

    def reset(self) -> None:
        """Forget the pending answer and buffered input (a new port)."""
        self._pending = None
        self._buf.clear()

    def _fill(self, timeout_s: float) -> None:
        data = self.port.read(timeout_s)
        if data and not self.hooks.silent():
            self._buf += data

    def _next_byte(self, timeout_s: float) -> int | None:
        if not self._buf:
            self._fill(timeout_s)
        if not self._buf:
            return None
        byte = self._buf[0]
        del self._buf[0]
        return byte

    def _send(self, data: bytes, start: float | None = None, *, absorb_enq: bool = False) -> None:
        """Write ``data`` once its last byte would have arrived on a real line whose first byte left at
        monotonic ``start`` (default: now); without baud pacing, at ``start``. ``absorb_enq``: drop ENQs
        that arrived meanwhile (just before the write).

        One write per reply, not one per UART-FIFO chunk: a client can use a frame only once its last
        byte is in, so this is as fast as a real line and never faster, and it costs one wake-up (of
        this thread and of the client) instead of one per 16 bytes — on a busy machine every wake-up
        is a scheduling delay added to the exchange.
        """
        begin = time.monotonic() if start is None else start
        _sleep_until(begin + self.hooks.byte_time_s() * len(data))
        if absorb_enq:
            self._absorb_enq()
        self.port.write(data)

    def step(self, timeout_s: float) -> None:
        """Handle at most one control byte or frame arriving within ``timeout_s``."""
        byte = self._next_byte(timeout_s)
        if byte is None:
            return
        if byte == ENQ:
            self._send(bytes([NAK]) if self._pending is None else bytes([ACK]) + self._pending)
        elif byte == ACK:
            self._pending = None
        elif byte == STX:
            self._on_frame()
        # NAK keeps the pending answer until the next ENQ; other bytes are noise

    def _read_exact(self, count: int) -> bytes | None:
        out = bytearray()
        for _ in range(count):
            byte = self._next_byte(self.byte_timeout_s)
            if byte is None:
                return None
            out.append(byte)
        return bytes(out)

    def _on_frame(self) -> None:
        started = time.monotonic()
        head = self._read_exact(1)
        rest = None if not head or head[0] == 0 else self._read_exact(head[0] + 1)
        if head is None or rest is None or lrc(head + rest[:-1]) != rest[-1]:
            self._send(bytes([NAK]))
            return
        # The frame is all here already (a pty is faster than a line): execute while the rest of the
        # request (LEN, body, LRC) would still be on the wire; the ACK leaves after it, never earlier.
        reply = self.hooks.execute_frame(rest[:-1])
        per_byte = self.hooks.byte_time_s()
        ack_start = max(time.monotonic(), started + per_byte * (len(rest) + 1))
        if reply.answer is None:
            self._send(bytes([ACK]), ack_start)
            _sleep_until(time.monotonic() + reply.delay_s)
            self._absorb_enq()
            self._pending = None
            return
        framed = frame(reply.answer)
        self._pending = framed
        wire = framed[:-1] + bytes([framed[-1] ^ 0xFF]) if reply.corrupt_lrc else framed
        if reply.delay_s > 0 or per_byte * len(wire) > MERGE_MAX_S:
            self._send(bytes([ACK]), ack_start)
            self._send(wire, time.monotonic() + reply.delay_s, absorb_enq=True)
        else:  # see the module docstring: ACK and answer in one write
            self._send(bytes([ACK]) + wire, ack_start, absorb_enq=True)

    def _absorb_enq(self) -> None:
        self._fill(0)
        while self._buf and self._buf[0] == ENQ:
            del self._buf[0]


def _sleep_until(deadline: float) -> None:
    """Return at monotonic ``deadline`` (or now, if it passed). A wait shorter than :data:`SPIN_S` (one
    byte at 115200 baud) is spun: sleeping that little costs a scheduler wake-up, which on a busy
    machine takes far longer than the wait itself."""
    remaining = deadline - time.monotonic()
    if remaining > SPIN_S:
        time.sleep(remaining)
        return
    while time.monotonic() < deadline:  # at most SPIN_S
        pass
