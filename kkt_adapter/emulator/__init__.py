"""An emulated Shtrih-M KKT with a simulated fiscal storage (FN), on a pseudo-terminal.

A **test and demo tool, not a certified device**: it speaks the Shtrih-M standard link layer and the
command subset our daemon and pyshtrih use, signs documents with a deterministic HMAC instead of an
FN's crypto, and has no OFD connection (tests confirm documents through the control API).

In-process use (pytest fixtures)::

    from kkt_adapter.emulator import Emulator
    with Emulator(tmp_path / "kkt0", tmp_path / "kkt.json") as emu:
        port = emu.path                      # open it with pyserial at any baud rate
        emu.set_paper_out(True); emu.ofd_ack(); emu.advance_clock(25 * 3600)
        emu.last_fd, emu.unsent_count, emu.archive, emu.snapshot()

Out of process: ``kkt-adapter emulator --link /tmp/kkt0 --state kkt.json --control-port 8765`` and
the HTTP control API of :mod:`kkt_adapter.emulator.control` (``GET /state``, ``POST /faults``,
``POST /clock``, ``POST /ofd/ack``, ``POST /port/vanish``, ``POST /port/restore``). Full reference:
``docs/emulator.md``.

Layout: :mod:`.state` (persistent state, atomic JSON), :mod:`.fn` (signs, archive, OFD queue,
30-day block), :mod:`.model` + ``cmd_*`` (commands), :mod:`.link` (ENQ/ACK/NAK), :mod:`.port` (pty),
:mod:`.emulator` (thread + faults), :mod:`.control` (HTTP), :mod:`.cli`.
"""

from __future__ import annotations

from kkt_adapter.emulator.emulator import Emulator
from kkt_adapter.emulator.faults import Faults
from kkt_adapter.emulator.state import DeviceConfig, FnDocument

__all__ = ["DeviceConfig", "Emulator", "Faults", "FnDocument"]
