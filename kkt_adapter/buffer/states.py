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

# Edges only an audited operator action takes, never the daemon: a ``delivered`` receipt the HQ export
# endpoint does not hold (reconcile's ``not_at_export``) is sent again under its same document id.
# An ``accepted`` receipt of a device removed from the configuration may be rejected (never printed).
OPERATOR_ONLY: frozenset[tuple[ReceiptState, ReceiptState]] = frozenset(
    {(S.DELIVERED, S.FISCALIZED), (S.ACCEPTED, S.REJECTED)}
)

# Receipts that still occupy the buffer's capacity: everything not finished for good.
PENDING = frozenset({S.ACCEPTED, S.PRINTING, S.UNKNOWN, S.FISCALIZED, S.DEAD})
NOT_FISCALIZED = frozenset({S.ACCEPTED, S.PRINTING, S.UNKNOWN})


def check_transition(key: str, old: ReceiptState, new: ReceiptState, operator: bool = False) -> None:
    """Raise :class:`IllegalTransition` unless ``old → new`` is an edge of the lifecycle (or, for an
    ``operator`` action, one of :data:`OPERATOR_ONLY`)."""
    if operator and (old, new) in OPERATOR_ONLY:
        return
    if new not in ALLOWED[old]:
        raise IllegalTransition(key, old.value, new.value)
