"""Fault injection of the simulator: the switches, and the pure decision taken for each submission."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum, StrEnum

from pydantic import BaseModel, ConfigDict, Field


class DownMode(StrEnum):
    """How the simulator is down: refusing TCP connections, or answering 503."""

    REFUSE = "refuse"
    UNAVAILABLE = "503"


class Faults(BaseModel):
    """Current fault switches (the control API reads and replaces them)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    down: DownMode | None = None
    retry_after_s: int | None = Field(default=None, ge=0, description="Retry-After sent with 503 when down")
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    latency_ms: int = Field(default=0, ge=0)
    rate_limit_per_s: int | None = Field(default=None, ge=0)
    rate_limit_retry_after_s: int = Field(default=1, ge=0)
    reject_next: int = Field(default=0, ge=0)


class Action(Enum):
    """What to do with one submission before (or after) storing it."""

    PROCEED = "proceed"
    FAIL_BEFORE_STORE = "fail_before_store"
    FAIL_AFTER_STORE = "fail_after_store"


@dataclass
class RateWindow:
    """Requests counted in the current one-second window."""

    second: int = -1
    count: int = 0

    def admit(self, now_s: float, limit: int) -> bool:
        """Count one request at ``now_s``; False when the window already holds ``limit`` requests."""
        second = int(now_s)
        if second != self.second:
            self.second, self.count = second, 0
        self.count += 1
        return self.count <= limit


def flaky_action(error_rate: float, rng: random.Random) -> Action:
    """With probability ``error_rate`` fail: half of the failures before storing, half after."""
    if error_rate <= 0 or rng.random() >= error_rate:
        return Action.PROCEED
    return Action.FAIL_BEFORE_STORE if rng.random() < 0.5 else Action.FAIL_AFTER_STORE
