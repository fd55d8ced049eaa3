"""Refused admin calls are audited, but an unauthenticated caller must not be able to fill the disk with them.

Each refusal used to be one fsync'd audit row. Now, per source address and wall-clock minute, the first
``verbatim`` refusals are audited one by one; the rest of that minute are only counted, and the count is
written as one ``admin access refused (aggregated)`` row when that source's minute is over (with its
next refusal or the next refusal of any source, whichever comes first; :meth:`RefusalLog.flush` writes
what is pending at shutdown). The number of rows is so bounded by sources × minutes, not by requests.
A global bound (``max_sources``) keeps the table of counters small when sources are many.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Audit = Callable[[str, str, dict[str, Any]], Awaitable[None]]
VERBATIM = 5
MAX_SOURCES = 1024
AGGREGATED = "admin access refused (aggregated)"


@dataclass
class _Minute:
    minute: str
    verbatim: int = 0
    suppressed: int = 0
    paths: set[str] = field(default_factory=set)


@dataclass
class RefusalLog:
    """Decides which refusals are written verbatim and aggregates the rest (see the module docstring)."""

    verbatim: int = VERBATIM
    max_sources: int = MAX_SOURCES
    _sources: dict[str, _Minute] = field(default_factory=dict)

    def decide(self, source: str, now: datetime, path: str) -> tuple[bool, list[dict[str, Any]]]:
        """(write this refusal verbatim?, aggregated rows now due) — pure bookkeeping, no I/O."""
        minute = now.strftime("%Y-%m-%dT%H:%M")
        due = [self._row(s, m) for s, m in self._sources.items() if m.minute != minute and m.suppressed]
        self._sources = {s: m for s, m in self._sources.items() if m.minute == minute}
        entry = self._sources.get(source)
        if entry is None:
            source = source if len(self._sources) < self.max_sources else "(other sources)"
            entry = self._sources.setdefault(source, _Minute(minute))
        if entry.verbatim < self.verbatim:
            entry.verbatim += 1
            return True, due
        entry.suppressed += 1
        entry.paths.add(path[:200])
        return False, due

    def pending(self) -> list[dict[str, Any]]:
        """The aggregated rows of every counted minute (for shutdown); clears them."""
        rows = [self._row(s, m) for s, m in self._sources.items() if m.suppressed]
        self._sources.clear()
        return rows

    @staticmethod
    def _row(source: str, entry: _Minute) -> dict[str, Any]:
        return {
            "client": source,
            "minute": entry.minute,
            "logged": entry.verbatim,
            "not_logged": entry.suppressed,
            "paths": sorted(entry.paths)[:20],
        }

    async def record(self, audit: Audit, source: str, now: datetime, detail: dict[str, Any]) -> None:
        """Audit one refusal as :meth:`decide` says, and any aggregated rows now due."""
        write, due = self.decide(source, now, str(detail.get("path", "")))
        for row in due:
            await audit(AGGREGATED, "anonymous", row)
        if write:
            await audit("admin access refused", "anonymous", detail)

    async def flush(self, audit: Audit) -> None:
        """Write what is still counted (call at shutdown)."""
        for row in self.pending():
            await audit(AGGREGATED, "anonymous", row)
