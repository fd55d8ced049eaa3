"""Retry schedule: capped exponential backoff with full jitter, unless the server named a delay (pure)."""

from __future__ import annotations

import random

MAX_SERVER_DELAY_S = 3600.0  # a Retry-After beyond an hour is treated as an hour


def full_jitter_s(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Uniform in [0, min(cap, base · 2^(attempt−1))] for attempt ≥ 1 (AWS "full jitter")."""
    ceiling = min(cap_s, base_s * 2.0 ** min(max(attempt - 1, 0), 60))
    return rng.uniform(0.0, ceiling)


def retry_delay_s(server_delay_s: float | None, attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """The server's ``Retry-After`` if it gave one (bounded to an hour), else full-jitter backoff."""
    if server_delay_s is not None:
        return min(max(server_delay_s, 0.0), MAX_SERVER_DELAY_S)
    return full_jitter_s(attempt, base_s, cap_s, rng)
