"""The resolve decision (pure): what the FN archive proves about receipts of unknown outcome."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from kkt_adapter.kkt.types import FnDocument, ShiftParams, SubMode
from kkt_adapter.pipeline.resolve import (
    Fiscalized,
    NotFiscalized,
    OnOtherFn,
    Undecided,
    Unresolved,
    decide,
    scan_range,
)

SELL = 1
AT = datetime(2026, 3, 1, 12, 30)
OPEN_SHIFT = ShiftParams(is_open=True, shift_number=7, receipt_number=5)


def receipt_doc(fd: int, sum_kop: int, operation: int = SELL) -> FnDocument:
    return FnDocument(3, False, fd, 1000 + fd, AT, operation, sum_kop, None)


def shift_doc(fd: int, doc_type: int, shift_number: int) -> FnDocument:
    return FnDocument(doc_type, False, fd, 1000 + fd, AT, None, None, shift_number)


def docs(*items: FnDocument) -> dict[int, FnDocument]:
    return {d.fd_number: d for d in items}


def one(intent: int | None = 10, total: int = 500, key: str = "k") -> Unresolved:
    return Unresolved(key, intent, SELL, total)


def test_no_new_document_means_not_fiscalized() -> None:
    """The FN's last FD equals the intent: the receipt was not fiscalized."""
    assert decide([one()], 10, {}, OPEN_SHIFT, SubMode.PAPER_OK) == [NotFiscalized("k")]


def test_matching_receipt_document_means_fiscalized_with_fn_numbers() -> None:
    """A type-3 document after the intent with the same operation and sum is the receipt."""
    [decision] = decide([one()], 11, docs(receipt_doc(11, 500)), OPEN_SHIFT, SubMode.PAPER_OK)
    assert isinstance(decision, Fiscalized)
    assert decision.document.fd_number == 11
    assert decision.document.fiscal_sign == 1011
    assert (decision.shift_number, decision.receipt_number) == (7, 4)
    assert not decision.print_incomplete


def test_receipt_number_counts_back_over_later_receipts() -> None:
    """With receipts after the matched one, the receipt number is FF40's next number minus them."""
    archive = docs(receipt_doc(11, 500), receipt_doc(12, 900))
    items = [one(key="a"), one(total=900, key="b", intent=11)]
    first, second = decide(items, 12, archive, OPEN_SHIFT, SubMode.PAPER_OK)
    assert isinstance(first, Fiscalized)
    assert isinstance(second, Fiscalized)
    assert (first.receipt_number, second.receipt_number) == (3, 4)


def test_shift_closed_after_the_receipt_takes_the_close_reports_shift() -> None:
    """A Z report after the receipt gives its shift number; the receipt number is then unknown."""
    archive = docs(receipt_doc(11, 500), shift_doc(12, 5, 6), shift_doc(13, 2, 7))
    [decision] = decide([one()], 13, archive, OPEN_SHIFT, SubMode.PAPER_OK)
    assert isinstance(decision, Fiscalized)
    assert (decision.shift_number, decision.receipt_number) == (6, None)


def test_shift_documents_after_the_intent_are_not_receipts() -> None:
    """Shift open/close reports the daemon made itself neither match nor block the decision."""
    archive = docs(shift_doc(11, 5, 6), shift_doc(12, 2, 7))
    assert decide([one()], 12, archive, OPEN_SHIFT, SubMode.PAPER_OK) == [NotFiscalized("k")]


def test_receipt_with_another_sum_is_unexplained() -> None:
    """A receipt document that matches no unresolved receipt leaves the receipt undecided (no guessing)."""
    [decision] = decide([one()], 11, docs(receipt_doc(11, 501)), OPEN_SHIFT, SubMode.PAPER_OK)
    assert isinstance(decision, Undecided)
    assert "11" in decision.reason


def test_receipt_with_another_operation_is_unexplained() -> None:
    """Same sum but a return (tag 1054 = 2) is not this sale."""
    [decision] = decide([one()], 11, docs(receipt_doc(11, 500, operation=2)), OPEN_SHIFT, SubMode.PAPER_OK)
    assert isinstance(decision, Undecided)


def test_fn_counter_below_the_intent_is_undecided() -> None:
    """An FN whose last FD is below the intent is not the FN of the intent (replaced?)."""
    [decision] = decide([one()], 9, {}, OPEN_SHIFT, SubMode.PAPER_OK)
    assert isinstance(decision, Undecided)
    assert "below" in decision.reason


def test_unreadable_document_is_undecided() -> None:
    """A document of the range that could not be read might be the receipt: undecided."""
    [decision] = decide([one()], 11, {}, OPEN_SHIFT, SubMode.PAPER_OK)
    assert isinstance(decision, Undecided)
    assert "could not be read" in decision.reason


def test_missing_intent_is_undecided() -> None:
    """Without a recorded intent nothing can be proven."""
    [decision] = decide([one(intent=None)], 11, docs(receipt_doc(11, 500)), OPEN_SHIFT, SubMode.PAPER_OK)
    assert isinstance(decision, Undecided)


def test_one_document_is_never_given_to_two_receipts() -> None:
    """Two unresolved receipts of the same sum and one document: the older gets it, the other is not fiscalized."""
    items = [one(key="old"), one(key="new")]
    first, second = decide(items, 11, docs(receipt_doc(11, 500)), OPEN_SHIFT, SubMode.PAPER_OK)
    assert isinstance(first, Fiscalized)
    assert first.key == "old"
    assert second == NotFiscalized("new")


def test_paper_out_or_waiting_for_continue_marks_the_print_incomplete() -> None:
    """Sub-modes 2 (paper out while printing) and 3 (waiting for B0) mean the paper copy is unfinished."""
    for sub_mode, incomplete in [
        (SubMode.PAPER_OK, False),
        (SubMode.PAPER_OUT_PASSIVE, False),
        (SubMode.PAPER_OUT_ACTIVE, True),
        (SubMode.WAIT_CONTINUE, True),
    ]:
        [decision] = decide([one()], 11, docs(receipt_doc(11, 500)), OPEN_SHIFT, sub_mode)
        assert isinstance(decision, Fiscalized)
        assert decision.print_incomplete is incomplete


def test_scan_range_starts_after_the_lowest_intent() -> None:
    """The FN is read from the lowest intent + 1 up to its last document."""
    assert scan_range([one(intent=12), one(intent=10)], 14) == range(11, 15)
    assert scan_range([one(intent=None)], 14) == range(0)


archives = st.lists(st.tuples(st.sampled_from([2, 3, 5]), st.sampled_from([500, 600]), st.sampled_from([1, 2])))


@given(archives, st.lists(st.sampled_from([500, 600]), min_size=1, max_size=4))
def test_decisions_are_sound_for_any_archive(entries: list[tuple[int, int, int]], totals: list[int]) -> None:
    """For any archive after the intent: no FN document is given twice, every match is a type-3 document
    with the receipt's sum and operation, and "not fiscalized" is only said when no receipt document
    is unexplained."""
    archive = {}
    for offset, (doc_type, total, operation) in enumerate(entries, start=11):
        doc = receipt_doc(offset, total, operation) if doc_type == 3 else shift_doc(offset, doc_type, 1)
        archive[offset] = doc
    items = [one(key=f"k{i}", total=t) for i, t in enumerate(totals)]
    decisions = decide(items, 10 + len(entries), archive, OPEN_SHIFT, SubMode.PAPER_OK)
    given_fds = [d.document.fd_number for d in decisions if isinstance(d, Fiscalized)]
    assert len(given_fds) == len(set(given_fds))
    for item, decision in zip(items, decisions, strict=True):
        assert decision.key == item.key
        if isinstance(decision, Fiscalized):
            assert decision.document.doc_type == 3
            assert decision.document.sum_kop == item.total_kop
            assert decision.document.operation == SELL
    receipts = {fd for fd, d in archive.items() if d.doc_type == 3}
    if any(isinstance(d, NotFiscalized) for d in decisions):
        assert receipts <= set(given_fds)


FN_A, FN_B = "9999078900000001", "9999078900000002"


def test_an_intent_on_a_replaced_fn_is_parked_not_halted() -> None:
    """An intent read from FN A while FN B (counter restarted below it) is connected: parked, not undecided."""
    item = Unresolved("k", 500, SELL, 700, FN_A)
    assert decide([item], 3, {}, OPEN_SHIFT, SubMode.PAPER_OK, FN_B) == [OnOtherFn("k", FN_A, FN_B)]


def test_a_parked_intent_takes_no_part_in_the_new_fns_decisions() -> None:
    """A receipt parked on FN A neither widens the scan of FN B nor turns B's receipts into strays."""
    parked = Unresolved("old", 1, SELL, 700, FN_A)
    mine = Unresolved("new", 10, SELL, 500, FN_B)
    assert scan_range([parked, mine], 11, FN_B) == range(11, 12)
    old, new = decide([parked, mine], 11, docs(receipt_doc(11, 500)), OPEN_SHIFT, SubMode.PAPER_OK, FN_B)
    assert old == OnOtherFn("old", FN_A, FN_B)
    assert isinstance(new, Fiscalized)
    assert new.document.fd_number == 11


def test_an_intent_without_its_fn_serial_keeps_the_counter_rule() -> None:
    """An intent recorded before the FN serial was stored (None) below the FN's counter stays undecided."""
    [decision] = decide([Unresolved("k", 500, SELL, 700, None)], 3, {}, OPEN_SHIFT, SubMode.PAPER_OK, FN_B)
    assert isinstance(decision, Undecided)
