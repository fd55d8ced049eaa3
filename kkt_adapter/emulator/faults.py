"""Run-time fault switches of the emulator (not persisted: a restart clears them).

One-shot faults clear themselves when they fire. ``paper_out`` is the paper sensor: turning it off
while a signed document's paper copy is incomplete moves the device to sub-mode 3 (waiting for B0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

FN_BLOCK_CODES = (0x14, 0x15)


@dataclass
class Faults:
    """Every switch; the defaults are a healthy device."""

    paper_out: bool = False
    paper_out_after_sign: bool = False  # one-shot: next close signs, then answers 0x6B
    lose_close_answer: bool = False  # one-shot: next close executes, its answer is never sent
    bad_lrc_next_answer: bool = False  # one-shot: next answer frame goes out with a corrupt LRC
    busy_commands: int = 0  # the next N command frames answer 0x50 and are not executed
    silence: bool = False  # ignore every input byte until cleared
    baud_delay: bool = False  # pace bytes at the baud rate the client set on the pty
    print_delay_ms: int = 0  # delay per printed line before the answer is sent
    fn_block_code: int = 0x15  # FN error of the 30-day block: 0x15 or 0x14
    ofd_length_change: bool = False  # one-shot: the next FF31 finds the head OFD message longer than FF30 said
    ofd_delay_ms: int = 0  # delay before each FF30–FF33 answer (a slow FN)
    refuse_ticket_code: int = 0  # non-zero: the FN refuses every OFD ticket with this FN error code

    def as_dict(self) -> dict[str, Any]:
        """The switches as JSON-ready values."""
        return asdict(self)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply ``changes``; raise ``ValueError`` for an unknown name or a bad value (nothing applied)."""
        known = {f.name: f.type for f in fields(self)}
        staged: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault {name!r}")
            staged[name] = _check(name, value)
        for name, value in staged.items():
            setattr(self, name, value)


def _check(name: str, value: Any) -> Any:
    if name in ("busy_commands", "print_delay_ms", "fn_block_code", "ofd_delay_ms", "refuse_ticket_code"):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer")
        if name == "fn_block_code" and value not in FN_BLOCK_CODES:
            raise ValueError("fn_block_code must be 0x14 (20) or 0x15 (21)")
        if name == "refuse_ticket_code" and value > 0xFF:
            raise ValueError("refuse_ticket_code must be an FN error byte (0 = off)")
        return value
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value
