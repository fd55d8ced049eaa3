"""Timeouts and retry bounds of the serial link, with the per-command answer-time table.

Every wait of :mod:`kkt_adapter.kkt.link` is bounded by one of these numbers, and every loop by one of
the retry counts, so the longest a single call can block is finite and computable
(:meth:`LinkPolicy.worst_case_s`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from kkt_adapter.kkt.protocol import commands as c

# How long the device may take from ACKing a command to the first byte of its answer. Reports, the
# Z report, opening a shift and closing a receipt print and talk to the FN (fr_drv_ng #140: FF45 took
# 366 ms); javapos keeps a similar table in commands.xml.
DEFAULT_ANSWER_TIMEOUTS_S: Mapping[int, float] = MappingProxyType(
    {
        c.CLOSE_RECEIPT_V2: 15.0,
        c.CLOSE_LEGACY: 15.0,
        c.Z_REPORT: 40.0,
        c.X_REPORT: 30.0,
        c.OPEN_SHIFT: 15.0,
        c.CANCEL_RECEIPT: 10.0,
        c.CONTINUE_PRINTING: 30.0,
        c.OPEN_RECEIPT: 5.0,
        c.OPERATION_V2: 5.0,
        c.PRINT_LINE: 5.0,
        c.FEED: 5.0,
        c.CUT: 5.0,
        c.CASH_IN: 10.0,
        c.CASH_OUT: 10.0,
        c.FN_SETTLEMENT_BEGIN: 10.0,
        c.FN_SETTLEMENT_BUILD: 30.0,
        c.FN_FIND_DOCUMENT: 5.0,
    }
)


@dataclass(frozen=True)
class LinkPolicy:
    """Bounds of the link. ``*_s`` are seconds; counts bound each retry loop."""

    byte_timeout_s: float = 0.3
    enq_timeout_s: float = 1.0
    ack_timeout_s: float = 1.0
    write_timeout_s: float = 2.0
    answer_default_s: float = 3.0
    answer_timeouts_s: Mapping[int, float] = field(default_factory=lambda: DEFAULT_ANSWER_TIMEOUTS_S)
    enq_attempts: int = 3
    pending_answers_max: int = 3
    frame_resends: int = 10
    answer_rereads: int = 3
    busy_retries: int = 20
    busy_delay_s: float = 0.25

    def answer_timeout_s(self, command: int) -> float:
        """The answer timeout of ``command`` (the table's value or the default)."""
        return self.answer_timeouts_s.get(command, self.answer_default_s)

    def worst_case_s(self, command: int) -> float:
        """An upper bound of the time one :meth:`SerialLink.transact` of ``command`` can block."""
        frame = 257 * self.byte_timeout_s  # every byte of a frame may come just before its timeout
        wait_answer = self.answer_default_s + frame
        sync = (self.enq_attempts + self.pending_answers_max) * (self.enq_timeout_s + wait_answer)
        send = self.frame_resends * (self.ack_timeout_s + self.enq_timeout_s)
        answer = (self.answer_rereads + 1) * (self.answer_timeout_s(command) + frame + self.enq_timeout_s)
        one = sync + send + answer + 2 * self.write_timeout_s
        return (self.busy_retries + 1) * (one + self.busy_delay_s)
