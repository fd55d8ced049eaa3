"""The health model: a pure function of a :class:`~kkt_adapter.ops.snapshot.Snapshot` and ``now``.

``evaluate(snapshot, now)`` never does I/O and never waits: the snapshot is built from caches. Each
problem is one plain Russian sentence (what is wrong — what to do). The overall verdict is
``critical`` if any problem is critical, ``degraded`` if any is a warning, else ``ok`` (``info``
problems are shown only). ``now`` must be aware; its timezone is the one deadlines are shown in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from kkt_adapter.ops.checks_device import check_devices
from kkt_adapter.ops.checks_store import check_buffer, check_ofd, check_workers
from kkt_adapter.ops.problem import DEFAULT_LIMITS, Limits, Problem, Severity
from kkt_adapter.ops.snapshot import Snapshot

__all__ = ["Health", "Limits", "Problem", "Severity", "Verdict", "can_accept_receipts", "evaluate", "status_line"]


class Verdict(StrEnum):
    """The traffic light."""

    OK = "ok"
    DEGRADED = "degraded"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Health:
    """The verdict and its problems, most severe first, as of ``checked_at``."""

    verdict: Verdict
    problems: tuple[Problem, ...]
    checked_at: datetime


def _verdict(problems: tuple[Problem, ...]) -> Verdict:
    worst = max((p.severity.rank for p in problems), default=0)
    return {2: Verdict.CRITICAL, 1: Verdict.DEGRADED}.get(worst, Verdict.OK)


def evaluate(snapshot: Snapshot, now: datetime, limits: Limits = DEFAULT_LIMITS) -> Health:
    """Judge ``snapshot`` at ``now`` (aware); pure and deterministic."""
    if now.utcoffset() is None:
        raise ValueError("evaluate: now must be timezone-aware")
    found = [
        *check_buffer(snapshot, now, limits),
        *check_devices(snapshot, now, limits),
        *check_ofd(snapshot, now, limits),
        *check_workers(snapshot, now, limits),
    ]
    problems = tuple(sorted(found, key=lambda p: -p.severity.rank))
    return Health(_verdict(problems), problems, now)


def can_accept_receipts(health: Health) -> tuple[bool, str]:
    """Whether the daemon may accept receipts (readiness), and the reason in Russian when it may not."""
    blocking = [p for p in health.problems if p.blocks_intake]
    if not blocking:
        return True, ""
    return False, "; ".join(p.sentence_ru for p in blocking)


def status_line(health: Health) -> str:
    """A one-line summary for systemd's ``STATUS=``: the verdict and the worst problem's sentence."""
    if not health.problems:
        return health.verdict.value
    return f"{health.verdict.value}: {health.problems[0].sentence_ru} (+{len(health.problems) - 1})"
