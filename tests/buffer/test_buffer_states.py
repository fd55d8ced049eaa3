"""The lifecycle as a pure table: every edge of DESIGN.md is allowed, every other pair raises."""

from __future__ import annotations

import itertools

import pytest

from kkt_adapter.buffer.errors import IllegalTransition
from kkt_adapter.buffer.states import ALLOWED, PENDING, ReceiptState, check_transition

S = ReceiptState
EDGES = {
    (S.ACCEPTED, S.PRINTING),
    (S.PRINTING, S.FISCALIZED),
    (S.PRINTING, S.UNKNOWN),
    (S.PRINTING, S.ACCEPTED),
    (S.PRINTING, S.REJECTED),
    (S.UNKNOWN, S.FISCALIZED),
    (S.UNKNOWN, S.ACCEPTED),
    (S.FISCALIZED, S.DELIVERED),
    (S.FISCALIZED, S.DEAD),
    (S.DEAD, S.FISCALIZED),
}
ALL_PAIRS = list(itertools.product(ReceiptState, repeat=2))


def test_the_table_is_exactly_the_design_lifecycle() -> None:
    """ALLOWED holds the edges of DESIGN.md's diagram and nothing else."""
    assert {(old, new) for old, targets in ALLOWED.items() for new in targets} == EDGES


@pytest.mark.parametrize(("old", "new"), [p for p in ALL_PAIRS if p not in EDGES])
def test_every_illegal_transition_raises(old: ReceiptState, new: ReceiptState) -> None:
    """A pair that is not an edge raises IllegalTransition carrying the key and both states."""
    with pytest.raises(IllegalTransition) as caught:
        check_transition("k1", old, new)
    assert (caught.value.key, caught.value.old, caught.value.new) == ("k1", old.value, new.value)


@pytest.mark.parametrize(("old", "new"), sorted(EDGES))
def test_every_edge_is_allowed(old: ReceiptState, new: ReceiptState) -> None:
    """An edge of the lifecycle passes the check."""
    check_transition("k1", old, new)


def test_finished_states_leave_the_pending_set() -> None:
    """Delivered and rejected receipts no longer occupy the buffer's capacity; all others do."""
    assert set(ReceiptState) - PENDING == {S.DELIVERED, S.REJECTED}


def test_only_an_operator_may_send_a_delivered_receipt_again() -> None:
    """delivered → fiscalized (reconcile's resend) is refused to the daemon and allowed to an operator action."""
    with pytest.raises(IllegalTransition):
        check_transition("k1", S.DELIVERED, S.FISCALIZED)
    check_transition("k1", S.DELIVERED, S.FISCALIZED, operator=True)
    with pytest.raises(IllegalTransition):
        check_transition("k1", S.REJECTED, S.FISCALIZED, operator=True)
