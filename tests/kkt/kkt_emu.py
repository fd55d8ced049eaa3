"""Helpers of the KKT tests that drive our driver against the emulator on a real pty."""

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


def connected(emu: Emulator) -> ShtrihDriver:
    """Our driver on ``emu``'s port, connected (the caller closes it)."""
    driver = ShtrihDriver(emu.path, 115200, policy=EMU_POLICY)
    driver.connect()
    return driver
