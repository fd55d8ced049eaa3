"""Request builders and a raw pty client shared by the emulator tests."""

from __future__ import annotations

import os
import select
import time
import tty
from datetime import datetime

from kkt_adapter.emulator.commands import make_device
from kkt_adapter.emulator.faults import Faults
from kkt_adapter.emulator.model import Device
from kkt_adapter.emulator.state import DeviceConfig, new_state

T0 = datetime(2026, 3, 2, 9, 0)


# The tests' own frame codec (ПротоколККТ 2.0 «Общие положения»), shared with neither the client nor the emulator.
def code_bytes(cmd: int) -> bytes:
    """Wire bytes of a command code: one byte, or ``FF xx`` for the FN commands."""
    return cmd.to_bytes(2 if cmd > 0xFF else 1, "big")


def _xor(data: bytes) -> int:
    out = 0
    for byte in data:
        out ^= byte
    return out


def encode_frame(body: bytes) -> bytes:
    """``STX LEN BODY LRC`` with LRC = XOR of LEN and the body."""
    head = bytes([len(body)]) + body
    return b"\x02" + head + bytes([_xor(head)])


def decode_frame(frame: bytes) -> bytes:
    """The body of a well-formed frame (ValueError on a bad STX, length or LRC)."""
    if frame[0] != 0x02 or frame[1] != len(frame) - 3 or _xor(frame[1:-1]) != frame[-1]:
        raise ValueError(f"bad frame {frame.hex(' ')}")
    return frame[2:-1]


def new_device(now: datetime = T0, faults: Faults | None = None) -> Device:
    """A fresh device (shift closed, empty FN) with its own faults."""
    return make_device(new_state(DeviceConfig(), now), faults or Faults())


def request(cmd: int, data: bytes = b"", password: int | None = 30) -> bytes:
    """A request body: command code, password (unless None), parameters."""
    pwd = b"" if password is None else password.to_bytes(4, "little")
    return code_bytes(cmd) + pwd + data


def run(dev: Device, cmd: int, data: bytes = b"", *, now: datetime = T0, password: int = 30) -> tuple[int, bytes]:
    """Execute one command; return (error, answer bytes after the error byte)."""
    out = dev.execute(request(cmd, data, password), now)
    return out.error, out.answer[len(code_bytes(cmd)) + 1 :]


def ff46(
    price_kop: int, qty_micro: int = 1_000_000, *, op: int = 1, total: int | None = None, tax: int = 0xCB
) -> bytes:
    """FF46 parameters for one item (after the password); the tax byte defaults to 0xCB, row 11 = 22 %
    (javapos ``FiscalPrinterImpl.getVatCodeShtrih``), which has no FF45 slot: FF45 tax sums stay 0."""
    given = b"\xff" * 5 if total is None else total.to_bytes(5, "little")
    return (
        bytes([op])
        + qty_micro.to_bytes(6, "little")
        + price_kop.to_bytes(5, "little")
        + given
        + b"\xff" * 5
        + bytes([tax, 1, 4, 1])
        + "Молоко".encode("cp1251")
    )


def ff45(
    cash: int = 0,
    card: int = 0,
    *,
    text: bytes = b"",
    tax_system: int = 1,
    rounding: int = 0,
    taxes: tuple[int, ...] = (0,) * 6,
) -> bytes:
    """FF45 parameters: cash, electronic, 14 zero payments, rounding, tax slots 1–6, tax system, text; with ten
    ``taxes`` the extended form (text NUL-padded to 64, slots 7–10 after it: OPOS ``ReceiptClose2``)."""
    pays = cash.to_bytes(5, "little") + card.to_bytes(5, "little") + b"\x00" * 70
    slots = [t.to_bytes(5, "little") for t in taxes]
    if len(slots) == 10:
        text = text.ljust(64, b"\x00")
    return pays + bytes([rounding]) + b"".join(slots[:6]) + bytes([tax_system]) + text + b"".join(slots[6:])


def sale80(price_kop: int, qty_milli: int = 1000, tax1: int = 1) -> bytes:
    """80h parameters: quantity ×1000, price, department 1, tax groups, 40-byte text."""
    return (
        qty_milli.to_bytes(5, "little")
        + price_kop.to_bytes(5, "little")
        + bytes([1, tax1, 0, 0, 0])
        + "Хлеб".encode("cp1251").ljust(40, b"\x00")
    )


def close85(cash: int, pay2: int = 0) -> bytes:
    """85h parameters: cash, type 2, types 3–4 zero, no discount, no taxes, 40-byte text."""
    return cash.to_bytes(5, "little") + pay2.to_bytes(5, "little") + b"\x00" * 10 + b"\x00" * 6 + b"\x00" * 40


class RawClient:
    """A bare serial client on the emulator's pty: writes bytes, reads with deadlines."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)

    def close(self) -> None:
        """Close the port."""
        os.close(self.fd)

    def write(self, data: bytes) -> None:
        """Send ``data``."""
        os.write(self.fd, data)

    def read(self, count: int, timeout_s: float = 2.0) -> bytes:
        """Read up to ``count`` bytes, stopping at the deadline."""
        out = b""
        deadline = time.monotonic() + timeout_s
        while len(out) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                out += os.read(self.fd, count - len(out))
        return out

    def read_frame(self, timeout_s: float = 2.0) -> bytes:
        """Read one ``STX LEN BODY LRC`` frame (possibly short on timeout)."""
        head = self.read(2, timeout_s)
        if len(head) < 2:
            return head
        return head + self.read(head[1] + 1, timeout_s)

    def command(self, body: bytes, timeout_s: float = 2.0) -> bytes:
        """ENQ → NAK, frame → ACK, answer frame → ACK; return the answer frame."""
        self.write(b"\x05")
        assert self.read(1, timeout_s) == b"\x15"
        self.write(encode_frame(body))
        assert self.read(1, timeout_s) == b"\x06"
        frame = self.read_frame(timeout_s)
        self.write(b"\x06")
        return frame
