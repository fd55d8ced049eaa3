"""The pure comparison of reconciliation: buffer receipts vs FN documents vs the HQ export endpoint's listing."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.kkt.types import FnDocument
from kkt_adapter.ops.reconcile import (
    BufferEntry,
    Kind,
    Report,
    Row,
    Sources,
    Totals,
    compare,
    export_ids_to_ask,
    receipt_shifts,
)

S = ReceiptState
FN = "9999078900012345"
T0 = datetime(2026, 1, 15, 9, 0)
SELL, SELL_RETURN = 1, 2


def doc(fd: int, sum_kop: int = 100, op: int = SELL, sign: int | None = None) -> FnDocument:
    """An FN receipt document; its fiscal sign is 1000 + FD unless given."""
    return FnDocument(3, False, fd, 1000 + fd if sign is None else sign, T0 + timedelta(minutes=fd), op, sum_kop, None)


def opened(fd: int, shift: int) -> FnDocument:
    return FnDocument(2, False, fd, 1000 + fd, T0 + timedelta(minutes=fd), None, None, shift)


def closed(fd: int, shift: int) -> FnDocument:
    return FnDocument(5, False, fd, 1000 + fd, T0 + timedelta(minutes=fd), None, None, shift)


def entry(
    key: str,
    fd: int | None,
    sum_kop: int = 100,
    op: int = SELL,
    shift: int | None = 1,
    state: ReceiptState = S.DELIVERED,
    sign: int | None = None,
) -> BufferEntry:
    """A buffer receipt recorded as FD ``fd`` of shift ``shift`` with the sign :func:`doc` gives it."""
    fiscal_sign = None if fd is None else (1000 + fd if sign is None else sign)
    fn_serial = None if fd is None else FN
    return BufferEntry(key, state, op, sum_kop, fd, fiscal_sign, shift if fd is not None else None, fn_serial)


def held(*fds: int, missing: tuple[int, ...] = ()) -> dict[str, bool]:
    return {**{f"{FN}-{n}": True for n in fds}, **{f"{FN}-{n}": False for n in missing}}


def report(
    buffer: list[BufferEntry],
    docs: list[FnDocument],
    export: dict[str, bool] | None = None,
    unreadable: tuple[int, ...] = (),
) -> Report:
    return compare(Sources(FN, buffer, docs, export, unreadable))


def kinds(result: Report) -> list[Kind]:
    return [d.kind for d in result.discrepancies]


SHIFT_1 = [opened(1, 1), doc(2, 10_000), doc(3, 2_550), doc(4, 700, SELL_RETURN)]
BUFFER_1 = [entry("a", 2, 10_000), entry("b", 3, 2_550), entry("c", 4, 700, SELL_RETURN)]


def test_matching_sources_are_clean_with_totals_per_shift_and_operation() -> None:
    """Every receipt matches its FN document and the export endpoint holds each: clean, one row per (shift, operation)
    with the same count and sum in all three columns."""
    result = report(BUFFER_1, SHIFT_1, held(2, 3, 4))
    assert result.clean
    assert result.rows == (
        Row(1, SELL, Totals(2, 12_550), Totals(2, 12_550), Totals(2, 12_550)),
        Row(1, SELL_RETURN, Totals(1, 700), Totals(1, 700), Totals(1, 700)),
    )


def test_a_receipt_whose_fd_the_fn_lacks_is_named_and_the_totals_differ() -> None:
    """A fiscalized receipt with an FD absent from the FN documents: not_in_fn naming it, totals_differ."""
    result = report([*BUFFER_1, entry("d", 9, 500)], SHIFT_1)
    assert kinds(result) == [Kind.NOT_IN_FN, Kind.TOTALS_DIFFER]
    missing = result.discrepancies[0]
    assert (missing.key, missing.fd_number) == ("d", 9)
    assert "shift 1, sell: buffer 3 receipts / 13050 kop, FN 2 / 12550 kop" in result.discrepancies[1].detail


def test_a_different_sum_is_a_mismatch_and_a_totals_difference() -> None:
    """The FN document of the receipt has another sum: fn_mismatch saying so, and the shift's sums differ."""
    result = report([entry("a", 2, 10_001), *BUFFER_1[1:]], SHIFT_1)
    assert kinds(result) == [Kind.FN_MISMATCH, Kind.TOTALS_DIFFER]
    assert "sum 10001 (buffer) ≠ 10000 (FN)" in result.discrepancies[0].detail


def test_a_different_fiscal_sign_is_a_mismatch_with_equal_totals() -> None:
    """Only the fiscal sign differs: one fn_mismatch naming the sign; the totals still agree."""
    result = report([entry("a", 2, 10_000, sign=4242), *BUFFER_1[1:]], SHIFT_1)
    assert kinds(result) == [Kind.FN_MISMATCH]
    assert result.discrepancies[0].detail == "receipt a, FD 2: fiscal sign 4242 (buffer) ≠ 1002 (FN)"


def test_a_different_operation_moves_the_sum_between_rows() -> None:
    """The buffer says sell where the FN says return: fn_mismatch, and both rows' totals differ."""
    result = report([*BUFFER_1[:2], entry("c", 4, 700, SELL)], SHIFT_1)
    assert kinds(result) == [Kind.FN_MISMATCH, Kind.TOTALS_DIFFER, Kind.TOTALS_DIFFER]
    assert "operation 1 (buffer) ≠ 2 (FN)" in result.discrepancies[0].detail


def test_a_receipt_recorded_in_another_shift_than_the_fn_says_is_a_mismatch() -> None:
    """The FN puts FD 3 in shift 1 (after shift 1's open); the buffer says shift 2."""
    result = report([BUFFER_1[0], entry("b", 3, 2_550, shift=2), BUFFER_1[2]], SHIFT_1)
    assert Kind.FN_MISMATCH in kinds(result)
    assert "shift 2 (buffer) ≠ 1 (FN)" in result.discrepancies[0].detail


def test_a_receipt_recorded_on_another_fn_is_a_mismatch() -> None:
    """A receipt whose fiscal record names another FN serial does not match this FN's document."""
    other = BufferEntry("a", S.DELIVERED, SELL, 10_000, 2, 1002, 1, "1111222233334444")
    result = report([other, *BUFFER_1[1:]], SHIFT_1)
    assert kinds(result) == [Kind.FN_MISMATCH]
    assert "FN 1111222233334444 (buffer)" in result.discrepancies[0].detail


def test_an_fd_that_is_a_shift_report_is_a_mismatch() -> None:
    """A receipt recorded with the FD of the shift-open report."""
    result = report([*BUFFER_1, entry("x", 1, 50)], SHIFT_1)
    assert result.discrepancies[0].kind is Kind.FN_MISMATCH
    assert result.discrepancies[0].detail == "receipt x has FD 1, which the FN holds as a shift-open report"


def test_an_fn_receipt_no_buffer_receipt_claims_is_unexplained() -> None:
    """A receipt document in the FN that the buffer does not know (sold past the adapter)."""
    result = report(BUFFER_1, [*SHIFT_1, doc(5, 777)])
    assert kinds(result) == [Kind.UNEXPLAINED_FN, Kind.TOTALS_DIFFER]
    unexplained = result.discrepancies[0]
    assert unexplained.fd_number == 5
    assert unexplained.detail == "FN receipt FD 5 (sell, 777 kop, 2026-01-15 09:05) is claimed by no buffer receipt"


def test_shift_documents_are_never_unexplained() -> None:
    """Shift open and close reports are not receipts: nothing in the buffer has to claim them."""
    assert report(BUFFER_1, [*SHIFT_1, closed(5, 1)]).clean


def test_one_fd_claimed_by_two_receipts_is_named_with_both_keys() -> None:
    """Two receipts recorded with the same FD: claimed_twice naming both (and the counts differ)."""
    result = report([*BUFFER_1, entry("dup", 3, 2_550)], SHIFT_1)
    assert kinds(result)[0] is Kind.CLAIMED_TWICE
    assert result.discrepancies[0].detail == "FD 3 is recorded for b, dup"
    assert Kind.TOTALS_DIFFER in kinds(result)


def test_a_delivered_receipt_the_export_endpoint_does_not_hold_is_named_for_the_export() -> None:
    """``delivered`` but the HQ export endpoint answers 404 for its id: ``not_at_export``, worded as the export's."""
    result = report(BUFFER_1, SHIFT_1, held(2, 4, missing=(3,)))
    assert kinds(result) == [Kind.NOT_AT_EXPORT]
    assert Kind.NOT_AT_EXPORT.value == "not_at_export"
    assert result.discrepancies[0].key == "b"
    assert result.discrepancies[0].detail == f"receipt b is 'delivered' but the HQ export endpoint does not hold {FN}-3"


def test_a_fiscalized_receipt_not_yet_at_the_export_endpoint_is_not_a_discrepancy() -> None:
    """Not yet delivered (or dead-lettered) and not at the export endpoint is the normal backlog; its column lags."""
    buffer = [
        entry("a", 2, 10_000),
        entry("b", 3, 2_550, state=S.FISCALIZED),
        entry("c", 4, 700, SELL_RETURN, state=S.DEAD),
    ]
    result = report(buffer, SHIFT_1, held(2, missing=(3, 4)))
    assert result.clean
    assert result.rows[0].export == Totals(1, 10_000)
    assert result.rows[1].export == Totals(0, 0)


def test_a_document_the_export_endpoint_holds_but_the_buffer_does_not_know_is_named() -> None:
    """The export endpoint holds an id of this FN that no buffer receipt claims (beside the unexplained FN receipt)."""
    result = report(BUFFER_1, [*SHIFT_1, doc(5, 777)], held(2, 3, 4, 5))
    assert kinds(result) == [Kind.UNEXPLAINED_FN, Kind.TOTALS_DIFFER, Kind.UNKNOWN_AT_EXPORT]
    assert result.discrepancies[2].fd_number == 5
    assert result.rows[0].export == Totals(3, 13_327)


def test_without_the_export_endpoint_the_column_is_absent_and_nothing_is_said_about_it() -> None:
    """Export endpoint not asked: ``export`` is None in every row and no export discrepancy can arise."""
    result = report(BUFFER_1, SHIFT_1, None)
    assert result.clean
    assert all(row.export is None for row in result.rows)


def test_an_undecided_receipt_is_a_discrepancy() -> None:
    """A receipt left ``unknown`` means the daemon has not decided: reconciliation cannot be clean."""
    result = report([*BUFFER_1, entry("u", None, 300, state=S.UNKNOWN)], SHIFT_1)
    assert kinds(result) == [Kind.UNDECIDED]
    assert result.discrepancies[0].key == "u"


def test_receipts_without_a_fiscal_record_are_not_counted() -> None:
    """accepted, printing and rejected receipts have no FN document and are neither counted nor flagged."""
    extra = [entry(k, None, 5, state=s) for k, s in (("p", S.PRINTING), ("q", S.ACCEPTED), ("r", S.REJECTED))]
    result = report([*BUFFER_1, *extra], SHIFT_1)
    assert result.clean
    assert result.rows[0].buffer == Totals(2, 12_550)


def test_an_fd_the_fn_refused_is_named_and_its_receipt_not_called_missing() -> None:
    """An FD in the range the FN would not return: fn_unreadable; the receipt claiming it is not not_in_fn."""
    result = report(BUFFER_1, [d for d in SHIFT_1 if d.fd_number != 3], unreadable=(3,))
    assert kinds(result) == [Kind.FN_UNREADABLE, Kind.TOTALS_DIFFER]
    assert result.discrepancies[0].fd_number == 3


def test_the_export_column_counts_a_held_receipt_outside_the_fn_range_under_the_buffer_group() -> None:
    """A delivered receipt whose FD was not read from the FN is still in the export column, by its buffer data."""
    result = report([*BUFFER_1, entry("z", 9, 40, shift=2)], SHIFT_1, held(2, 3, 4, 9))
    row = next(r for r in result.rows if r.shift_number == 2)
    assert row == Row(2, SELL, Totals(1, 40), Totals(0, 0), Totals(1, 40))


def test_the_report_is_a_function_of_its_inputs() -> None:
    """The same sources in another order give the same report (stable order of rows and discrepancies)."""
    buffer = [*BUFFER_1, entry("d", 9, 500), entry("dup", 3, 2_551), entry("u", None, state=S.UNKNOWN)]
    docs = [*SHIFT_1, doc(5, 777), opened(6, 2), doc(7, 5)]
    first = report(buffer, docs, held(2, 3, 4, 5))
    assert len(first.discrepancies) >= 6
    assert report(buffer[::-1], docs[::-1], held(2, 3, 4, 5)) == first


def test_receipt_shifts_follow_the_nearest_open_and_end_at_the_close() -> None:
    """FF0A gives receipts no shift: each takes the shift opened before it; none before an open or after a close."""
    docs = [doc(1), opened(2, 7), doc(3), closed(4, 7), doc(5), opened(6, 8), doc(7)]
    assert receipt_shifts(docs) == {1: None, 3: 7, 5: None, 7: 8}


def test_export_ids_cover_fn_receipts_and_fiscal_buffer_receipts_in_fd_order() -> None:
    """Ask the export endpoint about every FN receipt and every buffer receipt with a fiscal record, once each."""
    buffer = [entry("a", 9), entry("b", 3), entry("u", None, state=S.UNKNOWN)]
    assert export_ids_to_ask(FN, buffer, [opened(1, 1), doc(3), doc(4)]) == [f"{FN}-3", f"{FN}-4", f"{FN}-9"]


@given(st.lists(st.tuples(st.integers(1, 2), st.integers(1, 10**9)), min_size=1, max_size=30), st.data())
def test_removing_any_fn_receipt_names_exactly_that_receipt(
    receipts: list[tuple[int, int]], data: st.DataObject
) -> None:
    """For any consistent shift, the report is clean; without one FN document exactly its receipt is
    not_in_fn and exactly its (shift, operation) row differs."""
    docs = [opened(1, 3), *(doc(fd, total, op) for fd, (op, total) in enumerate(receipts, start=2))]
    buffer = [entry(f"k{fd}", fd, total, op, shift=3) for fd, (op, total) in enumerate(receipts, start=2)]
    assert report(buffer, docs, held(*range(2, len(receipts) + 2))).clean
    gone = data.draw(st.integers(2, len(receipts) + 1))
    result = report(buffer, [d for d in docs if d.fd_number != gone])
    assert kinds(result) == [Kind.NOT_IN_FN, Kind.TOTALS_DIFFER]
    assert result.discrepancies[0].key == f"k{gone}"
    differing = [r for r in result.rows if r.buffer != r.fn]
    assert [(r.operation, r.buffer.count - r.fn.count) for r in differing] == [(receipts[gone - 2][0], 1)]
