"""The retry schedule: capped exponential backoff with full jitter, unless the OFD named a delay."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from kkt_adapter.sync.backoff import MAX_SERVER_DELAY_S, full_jitter_s, retry_delay_s


@given(attempt=st.integers(min_value=1, max_value=10_000), seed=st.integers(min_value=0, max_value=2**32))
def test_full_jitter_stays_within_the_capped_exponential_ceiling(attempt: int, seed: int) -> None:
    """0 ≤ delay ≤ min(cap, base · 2^(attempt−1)) for any attempt, even huge ones."""
    delay = full_jitter_s(attempt, 2.0, 600.0, random.Random(seed))
    assert 0.0 <= delay <= min(600.0, 2.0 * 2.0 ** min(attempt - 1, 60))


def test_jitter_spreads_retries_of_the_same_attempt() -> None:
    """Many documents failing together do not all come back at the same moment."""
    rng = random.Random(1)
    delays = {round(full_jitter_s(5, 2.0, 600.0, rng), 3) for _ in range(50)}
    assert len(delays) > 40


def test_the_servers_retry_after_wins_over_backoff() -> None:
    """A Retry-After of 7 s is used as is, whatever the attempt number."""
    assert retry_delay_s(7.0, 30, 2.0, 600.0, random.Random(0)) == 7.0


def test_an_absurd_retry_after_is_bounded() -> None:
    """A Retry-After of a week is treated as an hour; a negative one as now."""
    assert retry_delay_s(7 * 86_400.0, 1, 2.0, 600.0, random.Random(0)) == MAX_SERVER_DELAY_S
    assert retry_delay_s(-5.0, 1, 2.0, 600.0, random.Random(0)) == 0.0
