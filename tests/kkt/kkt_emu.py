"""Helpers of the KKT tests against the emulator: its link policy, a connected driver, the rates it signs."""

from __future__ import annotations

from kkt_adapter.emulator import Emulator
from kkt_adapter.kkt.driver import ShtrihDriver
from kkt_adapter.kkt.link_config import LinkPolicy

# A link policy for the emulator: short for fault tests, long enough for a loaded CI machine.
EMU_POLICY = LinkPolicy(
    byte_timeout_s=0.2,
    enq_timeout_s=0.5,
    ack_timeout_s=0.5,
    answer_default_s=1.0,
    answer_timeouts_s={},
    busy_delay_s=0.02,
    busy_retries=5,
)

# A 2026 return under the simplified system: every rate the receipt rules allow on one receipt.
ALL_BUT_7_107 = ["vat20", "vat10", "vat0", "none", "vat120", "vat110", "vat5", "vat7", "vat105", "vat22", "vat122"]
# tag 1199 code of each rate (FFD), what the emulator's FN document must show per line
TAG_1199 = {
    "vat20": 1, "vat10": 2, "vat120": 3, "vat110": 4, "vat0": 5, "none": 6,
    "vat5": 7, "vat7": 8, "vat105": 9, "vat107": 10, "vat22": 11, "vat122": 12,
}  # fmt: skip


def connected(emu: Emulator) -> ShtrihDriver:
    """Our driver on ``emu``'s port, connected (the caller closes it)."""
    driver = ShtrihDriver(emu.path, 115200, policy=EMU_POLICY)
    driver.connect()
    return driver
