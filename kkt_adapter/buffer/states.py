"""The receipt state machine of DESIGN.md: states, allowed transitions, and the check that enforces them."""

from __future__ import annotations

from enum import StrEnum

from kkt_adapter.buffer.errors import IllegalTransition


class ReceiptState(StrEnum):
    """Where a receipt is in its life."""

    ACCEPTED = "accepted"
    PRINTING = "printing"
    UNKNOWN = "unknown"
    FISCALIZED = "fiscalized"
    DELIVERED = "delivered"
    REJECTED = "rejected"
    DEAD = "dead"


S = ReceiptState

ALLOWED: dict[ReceiptState, frozenset[ReceiptState]] = {
    S.ACCEPTED: frozenset({S.PRINTING}),
    S.PRINTING: frozenset({S.FISCALIZED, S.UNKNOWN, S.ACCEPTED, S.REJECTED}),
    S.UNKNOWN: frozenset({S.FISCALIZED, S.ACCEPTED}),
    S.FISCALIZED: frozenset({S.DELIVERED, S.DEAD}),
    S.DEAD: frozenset({S.FISCALIZED}),
    S.DELIVERED: frozenset(),
    S.REJECTED: frozenset(),
}

# Receipts that still occupy the buffer's capacity: everything not finished for good.
PENDING = frozenset({S.ACCEPTED, S.PRINTING, S.UNKNOWN, S.FISCALIZED, S.DEAD})
NOT_FISCALIZED = frozenset({S.ACCEPTED, S.PRINTING, S.UNKNOWN})


def check_transition(key: str, old: ReceiptState, new: ReceiptState) -> None:
    """Raise :class:`IllegalTransition` unless ``old → new`` is an edge of the lifecycle."""
    if new not in ALLOWED[old]:
        raise IllegalTransition(key, old.value, new.value)
