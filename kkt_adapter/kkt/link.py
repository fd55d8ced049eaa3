"""The serial link to a Shtrih-M device: pyserial, 8N1, and the host side of ENQ/ACK/NAK.

One :meth:`SerialLink.transact` = one command executed at most once:

1. **sync** — flush input, ``ENQ``: ``NAK`` = idle; ``ACK`` = an old answer is pending → read it, ACK it,
   drop it, ``ENQ`` again (bounded); silence → ``ENQ`` again, then :class:`LinkTimeout`.
2. **send** — the frame; ``ACK`` = taken; ``NAK`` = resend (bounded); silence → ``ENQ`` probe: ``ACK``
   means the device has the command (go read the answer), ``NAK`` means it does not (resend).
3. **answer** — wait for ``STX`` up to the command's answer timeout, then every byte within the byte
   timeout. A bad LRC or a torn frame → ``NAK`` + ``ENQ``: the device repeats the *same* answer. The
   command is never resent once the device ACKed it. No answer in time → one ``ENQ`` probe (the answer
   may have been lost on the wire), else :class:`LinkTimeout`.
4. **busy** — an answer with error 50h (still printing: the command was *not* executed) → wait
   ``busy_delay_s`` and run the command again, bounded; the last such answer is returned as is.

Stray bytes (0xFF …) where a control byte is expected are skipped. Any OS/pyserial error closes the
port and raises :class:`PortGone`; the next call opens the port again (reconnect). Every wait is
bounded by :class:`~kkt_adapter.kkt.link_config.LinkPolicy`. Not thread-safe: one owner per port.
"""

from __future__ import annotations

import logging
import termios
import time
from collections.abc import Callable
from typing import Any

import serial

from kkt_adapter.kkt.errors import LinkError, LinkTimeout, PortGone, ProtocolError
from kkt_adapter.kkt.link_config import LinkPolicy
from kkt_adapter.kkt.protocol.answers import error_byte
from kkt_adapter.kkt.protocol.errors_table import BUSY
from kkt_adapter.kkt.protocol.frame import ACK, ENQ, NAK, STX, code_bytes, command_code, decode_frame
from kkt_adapter.kkt.protocol.frame import encode_frame as _encode

log = logging.getLogger(__name__)

POLL_S = 0.02  # granularity of deadline checks while waiting for bytes


class _BadFrameError(Exception):
    """A torn frame or a bad LRC: ask the device to repeat it."""


class SerialLink:
    """A Shtrih-M link on serial port ``port`` (any path pyserial opens: /dev/ttyUSB0, a pty symlink)."""

    def __init__(
        self,
        port: str,
        baudrate: int = 115200,
        policy: LinkPolicy | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.policy = policy or LinkPolicy()
        self._monotonic = monotonic
        self._sleep = sleep
        self._serial: Any = None
        self.bytes_out = 0
        self.bytes_in = 0
        self.frame_sent = False

    @property
    def is_open(self) -> bool:
        """Whether the port is open now."""
        return self._serial is not None

    def open(self) -> None:
        """Open the port if it is closed; raise :class:`PortGone` if it cannot be opened."""
        if self._serial is not None:
            return
        try:
            self._serial = serial.Serial(
                port=self.port,
                baudrate=self.baudrate,
                bytesize=serial.EIGHTBITS,
                parity=serial.PARITY_NONE,
                stopbits=serial.STOPBITS_ONE,
                timeout=min(POLL_S, self.policy.byte_timeout_s),
                write_timeout=self.policy.write_timeout_s,
                xonxoff=False,
                rtscts=False,
                exclusive=True,  # flock before any setting changes: one process per port (POSIX)
            )
        except (serial.SerialException, OSError, termios.error, ValueError) as exc:
            raise PortGone(f"cannot open {self.port}: {exc}") from exc

    def close(self) -> None:
        """Close the port (idempotent); the next :meth:`transact` opens it again."""
        port, self._serial = self._serial, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError, termios.error):
                log.debug("closing %s failed; dropped", self.port)

    def transact(self, body: bytes) -> bytes:
        """Execute the command in ``body`` once and return the answer body (echoed code first).

        Raises :class:`LinkError` (:class:`LinkTimeout`, :class:`PortGone`, or a plain one when the
        device NAKs the frame every time) or :class:`ProtocolError`; device error bytes
        are *not* raised here (see :mod:`kkt_adapter.kkt.protocol.answers`). Afterwards
        :attr:`frame_sent` tells whether the command frame was ever written to the port (if not, the
        device cannot have executed it).
        """
        command = command_code(body)
        frame = _encode(body)
        self.frame_sent = False
        for attempt in range(self.policy.busy_retries + 1):
            answer = self._guarded(lambda: self._exchange(frame, command))
            if error_byte(command, answer) != BUSY or attempt == self.policy.busy_retries:
                return answer
            log.info("0x%X: device busy (50h), retry %d", command, attempt + 1)
            self._sleep(self.policy.busy_delay_s)
        raise AssertionError("unreachable")  # pragma: no cover

    def _guarded(self, step: Callable[[], bytes]) -> bytes:
        self.open()
        try:
            return step()
        except serial.SerialTimeoutException as exc:
            raise LinkTimeout(f"write to {self.port} timed out") from exc
        except (serial.SerialException, OSError, termios.error) as exc:
            self.close()
            raise PortGone(f"{self.port}: {exc}") from exc

    def _exchange(self, frame: bytes, command: int) -> bytes:
        self._sync()
        self._send(frame)
        return self._receive(command)

    # --- steps -------------------------------------------------------------------------------------

    def _sync(self) -> None:
        """ENQ until the device says idle (NAK), draining answers left over from earlier commands."""
        self._serial.reset_input_buffer()
        silent = pending = 0
        while True:
            self._write(bytes([ENQ]))
            reply = self._read_control(self.policy.enq_timeout_s)
            if reply == NAK:
                return
            if reply is None:
                silent += 1
                if silent >= self.policy.enq_attempts:
                    raise LinkTimeout(f"no reply to ENQ on {self.port} ({silent} tries)")
                continue
            pending += 1
            if pending > self.policy.pending_answers_max:
                raise ProtocolError("device keeps answering ENQ with ACK (pending answers)")
            self._drain_pending()

    def _drain_pending(self) -> None:
        try:
            stale = self._read_frame(self.policy.answer_default_s)
        except _BadFrameError:
            self._write(bytes([NAK]))
            return
        if stale is not None:
            self._write(bytes([ACK]))
            log.warning("dropped a pending answer %s before a new command", stale[:2].hex(" "))

    def _send(self, frame: bytes) -> None:
        """Send the frame until the device ACKs it; never resend once it may have taken it."""
        for _ in range(self.policy.frame_resends):
            self.frame_sent = True  # set before the write: a failing write may still have sent bytes
            self._write(frame)
            reply = self._read_control(self.policy.ack_timeout_s)
            if reply == ACK:
                return
            if reply is None:
                self._write(bytes([ENQ]))
                probe = self._read_control(self.policy.enq_timeout_s)
                if probe == ACK:
                    return  # the device has the command; its answer follows
                if probe is None:
                    raise LinkTimeout(f"no ACK to the frame and no reply to ENQ on {self.port}")
            log.info("device NAKed the frame; resending")
        raise LinkError(f"device NAKed the frame {self.policy.frame_resends} times")

    def _receive(self, command: int) -> bytes:
        """Read the answer; on a bad frame NAK + ENQ to get the same answer again (bounded)."""
        timeout_s = self.policy.answer_timeout_s(command)
        for _ in range(self.policy.answer_rereads + 1):
            try:
                body = self._read_frame(timeout_s)
            except _BadFrameError as exc:
                log.warning("bad answer frame (%s); asking for it again", exc)
                self._serial.reset_input_buffer()  # the tail of a torn frame must not pass for ACK/NAK
                self._write(bytes([NAK]))
                self._ask_repeat(required=True)
                continue
            if body is None:
                if self._ask_repeat(required=False):
                    continue
                raise LinkTimeout(f"no answer to 0x{command:X} within {timeout_s:.2f} s")
            self._write(bytes([ACK]))
            if not body.startswith(code_bytes(command)):
                raise ProtocolError(f"answer {body[:2].hex(' ')} is not for command 0x{command:X}")
            return body
        raise ProtocolError(f"answer to 0x{command:X} still bad after {self.policy.answer_rereads} repeats")

    def _ask_repeat(self, required: bool) -> bool:
        """ENQ: True if the device ACKs (it will send the answer); raise/False if it has none."""
        self._write(bytes([ENQ]))
        reply = self._read_control(self.policy.enq_timeout_s)
        if reply == ACK:
            return True
        if not required:
            return False
        if reply == NAK:
            raise ProtocolError("device has no answer to repeat (NAK to ENQ after a bad frame)")
        raise LinkTimeout("no reply to ENQ after a bad frame")

    # --- bytes -------------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        self._serial.write(data)
        self.bytes_out += len(data)

    def _read(self, size: int) -> bytes:
        chunk: bytes = self._serial.read(size)
        self.bytes_in += len(chunk)
        return chunk

    def _read_control(self, timeout_s: float) -> int | None:
        """The next ACK or NAK within ``timeout_s``, skipping stray bytes and whole stray frames."""
        deadline = self._monotonic() + timeout_s
        while self._monotonic() < deadline:
            chunk = self._read(1)
            if not chunk:
                continue
            if chunk[0] in (ACK, NAK):
                return chunk[0]
            if chunk[0] == STX:
                self._skip_frame()
            else:
                log.debug("skipped stray byte 0x%02X", chunk[0])
        return None

    def _skip_frame(self) -> None:
        try:
            self._read_frame_tail()
        except _BadFrameError:
            log.debug("skipped a torn stray frame")
        else:
            log.debug("skipped a stray frame")

    def _read_frame(self, timeout_s: float) -> bytes | None:
        """Wait up to ``timeout_s`` for STX (skipping other bytes), then read the frame; None if none."""
        deadline = self._monotonic() + timeout_s
        while self._monotonic() < deadline:
            chunk = self._read(1)
            if chunk and chunk[0] == STX:
                return self._read_frame_tail()
            if chunk:
                log.debug("skipped byte 0x%02X before STX", chunk[0])
        return None

    def _read_frame_tail(self) -> bytes:
        head = self._read_exact(1)
        rest = self._read_exact(head[0] + 1)
        try:
            return decode_frame(bytes([STX]) + head + rest)
        except ProtocolError as exc:
            raise _BadFrameError(str(exc)) from exc

    def _read_exact(self, size: int) -> bytes:
        """``size`` bytes, each within the byte timeout of the previous one; else :class:`_BadFrameError`."""
        data = b""
        deadline = self._monotonic() + self.policy.byte_timeout_s
        while len(data) < size:
            chunk = self._read(size - len(data))
            if chunk:
                data += chunk
                deadline = self._monotonic() + self.policy.byte_timeout_s
            elif self._monotonic() >= deadline:
                raise _BadFrameError(f"byte timeout after {len(data)} of {size} bytes")
        return data
