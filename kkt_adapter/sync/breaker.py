"""A pybreaker circuit breaker (one for the OFD relay, one for the HQ export), used correctly from asyncio.

pybreaker traps handled here (see ``libs-and-style.md`` §A1):

- ``call()`` with a coroutine function records success before anything is awaited, so we use
  ``with breaker.calling(): await …`` and raise inside the block to record a failure;
- ``reset_timeout`` is measured with the wall clock, so the opening time is kept on the injected
  monotonic clock (:class:`MonotonicStorage`);
- excluded exceptions count as success, so nothing is excluded: only unhealthy outcomes raise;
- it catches ``BaseException``: a task cancelled mid-call counts as a failure. Cancellation happens only
  at shutdown, and the breaker lives in memory, so that count dies with the process.

Half-open admits any number of callers; the worker sends exactly one probe at a time when not closed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

import pybreaker

from kkt_adapter.export.outcome import Outcome, RetryLater

log = logging.getLogger(__name__)


class BreakerState(StrEnum):
    """pybreaker's state names."""

    CLOSED = pybreaker.STATE_CLOSED
    OPEN = pybreaker.STATE_OPEN
    HALF_OPEN = pybreaker.STATE_HALF_OPEN


class MonotonicStorage(pybreaker.CircuitMemoryStorage):
    """Memory storage whose ``opened_at`` is back-dated from a monotonic reading (wall-clock jumps are ignored)."""

    def __init__(self, monotonic: Callable[[], float]) -> None:
        super().__init__(pybreaker.STATE_CLOSED)
        self._monotonic = monotonic
        self.opened_mono: float | None = None

    @property
    def opened_at(self) -> datetime | None:
        if self.opened_mono is None:
            return None
        return datetime.now(UTC) - timedelta(seconds=self._monotonic() - self.opened_mono)

    @opened_at.setter
    def opened_at(self, _wall: datetime) -> None:
        self.opened_mono = self._monotonic()


T = TypeVar("T")


class _Unhealthy(Exception):
    """Raised inside the breaker block to record a failure; carries the outcome."""

    def __init__(self, outcome: Any) -> None:
        super().__init__(str(getattr(outcome, "reason", outcome)))
        self.outcome = outcome


def export_unhealthy(outcome: Outcome) -> bool:
    """The export's rule: an unhealthy :class:`RetryLater` counts against the breaker."""
    return isinstance(outcome, RetryLater) and outcome.unhealthy


Transition = Callable[[str, str], None]


class _Transitions(pybreaker.CircuitBreakerListener):
    """Logs real state changes (pybreaker also reports closed → closed) and passes them on."""

    def __init__(self, on_change: Transition | None) -> None:
        self._on_change = on_change

    def state_change(self, cb: object, old: object, new: object) -> None:
        old_name = getattr(old, "name", None)
        new_name = getattr(new, "name", None)
        if old_name is None or new_name is None or old_name == new_name:
            return
        log.warning("circuit breaker %s: %s → %s", getattr(cb, "name", "?"), old_name, new_name)
        if self._on_change is not None:
            self._on_change(str(old_name), str(new_name))


class Breaker:
    """The OFD breaker: ``fail_max`` unhealthy outcomes in a row open it for ``reset_timeout_s``."""

    def __init__(
        self,
        fail_max: int,
        reset_timeout_s: float,
        success_threshold: int,
        monotonic: Callable[[], float],
        on_change: Transition | None = None,
        name: str = "export",
    ) -> None:
        """``on_change(old, new)`` is called on each real state change (e.g. the metrics' counter)."""
        self._monotonic = monotonic
        self._storage = MonotonicStorage(monotonic)
        self._cb = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_timeout_s,
            success_threshold=success_threshold,
            state_storage=self._storage,
            listeners=[_Transitions(on_change)],
            name=name,
            throw_new_error_on_trip=False,
        )

    @property
    def state(self) -> BreakerState:
        """closed, open or half-open (open stays open in this reading even when a probe is due)."""
        return BreakerState(self._cb.current_state)

    @property
    def fail_counter(self) -> int:
        """Consecutive unhealthy outcomes counted so far."""
        count: int = self._cb.fail_counter
        return count

    def probe_in_s(self) -> float | None:
        """Seconds until the half-open probe may run when open (0.0: now); None when not open."""
        if self.state is not BreakerState.OPEN or self._storage.opened_mono is None:
            return None
        elapsed = self._monotonic() - self._storage.opened_mono
        return max(self._cb.reset_timeout - elapsed, 0.0)

    async def call(self, attempt: Callable[[], Awaitable[T]], unhealthy: Callable[[T], bool]) -> T | None:
        """Run ``attempt`` through the breaker; None if the breaker refused (no call was made).

        An outcome for which ``unhealthy`` is true counts as a failure; every other outcome (for the
        export: permanent rejections and 429 too) counts as success: the far end answered.
        """
        try:
            with self._cb.calling():
                outcome = await attempt()
                if unhealthy(outcome):
                    raise _Unhealthy(outcome)
        except _Unhealthy as failed:
            result: T = failed.outcome
            return result
        except pybreaker.CircuitBreakerError:
            return None
        return outcome
