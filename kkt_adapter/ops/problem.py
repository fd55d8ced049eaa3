"""The vocabulary of health verdicts: a :class:`Problem`, its :class:`Severity`, and the :class:`Limits`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    """How bad one problem is: ``info`` is shown only; ``warning`` degrades; ``critical`` turns red."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "critical": 2}[self.value]


@dataclass(frozen=True)
class Problem:
    """One thing that is wrong: what (``message_ru``) and what to do (``action_ru``), both plain Russian.

    ``component`` names the part ("buffer", "ofd", "device:<id>", "fn:<id>", "worker:<name>");
    ``code`` is stable for machines; ``blocks_intake`` means the daemon must not accept receipts.
    """

    component: str
    severity: Severity
    code: str
    message_ru: str
    action_ru: str
    details: Mapping[str, object] = field(default_factory=dict)
    blocks_intake: bool = False

    @property
    def sentence_ru(self) -> str:
        """The sentence for the cashier: "Закончилась бумага — вставьте новый рулон"."""
        return f"{self.message_ru} — {self.action_ru}"


@dataclass(frozen=True)
class Limits:
    """Thresholds of the verdicts; the defaults follow 54-FZ's clocks (24 h shift, 30-day OFD block)."""

    shift_max_h: float = 24.0
    shift_warn_h: float = 22.0
    ofd_block_days: int = 30
    ofd_backlog_stages_days: tuple[int, int, int, int] = (3, 7, 20, 25)
    ofd_offline_warn_s: float = 3600.0
    ofd_failures_warn: int = 3
    fn_expiry_warn_days: int = 30
    clock_skew_max_s: float = 300.0
    fn_expiry_critical_days: int = 3
    disk_warn_bytes: int = 500 * 1024 * 1024
    disk_critical_bytes: int = 50 * 1024 * 1024
    capacity_warn_ratio: float = 0.8
    capacity_critical_ratio: float = 0.95
    print_backlog_warn_s: float = 120.0
    print_backlog_critical_s: float = 900.0
    device_stale_s: float = 60.0
    worker_stale_s: float = 60.0


DEFAULT_LIMITS = Limits()
