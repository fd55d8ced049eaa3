"""Deciding an unknown outcome from the FN: a pure function of what the buffer and the FN say.

A receipt is *unresolved* when it is ``printing`` or ``unknown``: the worker recorded the intent (the
FN's last FD number before the first command) and then lost track. The FN is the truth:

* a **receipt document** (archive type 3) after the intent with the receipt's operation (tag 1054) and
  sum (tag 1020) → the receipt was fiscalized; it gets that document's numbers. One FN document is
  never given to two receipts (receipts are matched oldest first, each takes the lowest free match).
* **no** matching receipt document and no unexplained one → not fiscalized: cancel the open receipt
  (if any) and put it back to ``accepted``.
* the intent was read from **another FN** (its serial differs from the connected FN's: the FN was
  replaced since) → **on another FN**: the new FN's archive says nothing about that receipt. The
  device is *not* halted: the receipt stays ``unknown``, parked for an operator (``device resolve``:
  ``fiscalized FD`` on the old FN, or ``not printed``), never printed again automatically (it may have
  been fiscalized on the old FN); the queue goes on with new receipts on the new FN. Its intent takes no
  part in the other receipts' decisions (scan range, stray documents).
* anything else (the FN's counter went backwards, documents missing from the archive, a receipt
  document that matches no unresolved receipt, a receipt without an intent) → **undecided**: the
  device's queue stays halted and the reason is shown on the health page; guessing here could make a
  double sale or lose one.

Documents of other types (shift open/close reports the daemon made itself, settlement reports) are
never matched and never make a decision undecided.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kkt_adapter.kkt.types import FnDocument, ShiftParams, SubMode

DOC_SHIFT_OPEN = 2
DOC_RECEIPT = 3
DOC_SHIFT_CLOSE = 5
PAPER_UNFINISHED = frozenset({SubMode.PAPER_OUT_ACTIVE, SubMode.WAIT_CONTINUE})


@dataclass(frozen=True)
class Unresolved:
    """What the buffer knows about a receipt whose outcome is unknown."""

    key: str
    intent_last_fd: int | None
    operation_tag: int  # tag 1054 of the receipt
    total_kop: int
    intent_fn_serial: str | None = None  # the FN the intent was read from (None: not recorded)


@dataclass(frozen=True)
class Fiscalized:
    """The FN signed the receipt as ``document``; shift and receipt numbers when they can be derived."""

    key: str
    document: FnDocument
    shift_number: int | None
    receipt_number: int | None
    print_incomplete: bool


@dataclass(frozen=True)
class NotFiscalized:
    """The FN holds no document of the receipt: cancel any open receipt, then print it again."""

    key: str


@dataclass(frozen=True)
class Undecided:
    """The FN's answer does not prove either outcome; keep the queue halted and show ``reason``."""

    key: str
    reason: str


@dataclass(frozen=True)
class OnOtherFn:
    """The intent was read from the FN ``old_fn``, the device now holds ``new_fn``: parked for an operator
    (the queue goes on; the receipt is never printed again automatically)."""

    key: str
    old_fn: str
    new_fn: str


Decision = Fiscalized | NotFiscalized | Undecided | OnOtherFn


def on_other_fn(item: Unresolved, fn_serial: str | None) -> bool:
    """True when ``item``'s intent was read from an FN other than ``fn_serial`` (both known)."""
    return item.intent_fn_serial is not None and fn_serial is not None and item.intent_fn_serial != fn_serial


def scan_range(unresolved: Sequence[Unresolved], fn_last_fd: int, fn_serial: str | None = None) -> range:
    """FD numbers to read from the FN ``fn_serial``'s archive: from the lowest intent made on it + 1 to its
    last document (intents made on another FN are left out)."""
    intents = [u.intent_last_fd for u in unresolved if u.intent_last_fd is not None and not on_other_fn(u, fn_serial)]
    if not intents:
        return range(0)
    return range(min(intents) + 1, fn_last_fd + 1)


def decide(
    unresolved: Sequence[Unresolved],
    fn_last_fd: int,
    documents: Mapping[int, FnDocument],
    shift: ShiftParams,
    sub_mode: SubMode,
    fn_serial: str | None = None,
) -> list[Decision]:
    """One decision per unresolved receipt, in the given order (oldest first).

    ``documents`` holds the FN archive entries of :func:`scan_range` that exist (by FD number);
    ``shift`` is FF40 and ``sub_mode`` the device's sub-mode, both read after the archive; ``fn_serial``
    the connected FN's serial (None: not known, every intent counts as made on it).
    """
    parked = {u.key: OnOtherFn(u.key, u.intent_fn_serial or "", fn_serial or "") for u in unresolved
              if on_other_fn(u, fn_serial)}  # fmt: skip
    mine = [u for u in unresolved if u.key not in parked]
    decided = {d.key: d for d in _decide_on_this_fn(mine, fn_last_fd, documents, shift, sub_mode)}
    return [parked.get(u.key) or decided[u.key] for u in unresolved]


def _decide_on_this_fn(
    unresolved: Sequence[Unresolved],
    fn_last_fd: int,
    documents: Mapping[int, FnDocument],
    shift: ShiftParams,
    sub_mode: SubMode,
) -> list[Decision]:
    missing = [n for n in scan_range(unresolved, fn_last_fd) if n not in documents]
    taken: set[int] = set()
    matched: dict[str, FnDocument] = {}
    for item in unresolved:
        doc = _match(item, fn_last_fd, documents, taken)
        if doc is not None:
            taken.add(doc.fd_number)
            matched[item.key] = doc
    stray = [
        d.fd_number
        for d in documents.values()
        if d.doc_type == DOC_RECEIPT and d.fd_number not in taken and _after_any_intent(d, unresolved)
    ]
    return [_one(item, fn_last_fd, documents, matched, missing, sorted(stray), shift, sub_mode) for item in unresolved]


def _after_any_intent(doc: FnDocument, unresolved: Sequence[Unresolved]) -> bool:
    return any(u.intent_last_fd is not None and doc.fd_number > u.intent_last_fd for u in unresolved)


def _match(
    item: Unresolved, fn_last_fd: int, documents: Mapping[int, FnDocument], taken: set[int]
) -> FnDocument | None:
    if item.intent_last_fd is None or fn_last_fd < item.intent_last_fd:
        return None
    for number in range(item.intent_last_fd + 1, fn_last_fd + 1):
        doc = documents.get(number)
        if doc is not None and number not in taken and _is_receipt_of(doc, item):
            return doc
    return None


def _is_receipt_of(doc: FnDocument, item: Unresolved) -> bool:
    return doc.doc_type == DOC_RECEIPT and doc.operation == item.operation_tag and doc.sum_kop == item.total_kop


def _one(
    item: Unresolved,
    fn_last_fd: int,
    documents: Mapping[int, FnDocument],
    matched: Mapping[str, FnDocument],
    missing: Sequence[int],
    stray: Sequence[int],
    shift: ShiftParams,
    sub_mode: SubMode,
) -> Decision:
    if item.intent_last_fd is None:
        return Undecided(item.key, "no intent (FN last FD) was recorded before printing")
    if fn_last_fd < item.intent_last_fd:
        return Undecided(
            item.key, f"the FN's last FD {fn_last_fd} is below the recorded intent {item.intent_last_fd}: another FN?"
        )
    doc = matched.get(item.key)
    if doc is not None:
        shift_no, receipt_no = _numbers(doc, fn_last_fd, documents, shift)
        return Fiscalized(item.key, doc, shift_no, receipt_no, sub_mode in PAPER_UNFINISHED)
    if missing:
        return Undecided(item.key, f"FN documents {_list(missing)} could not be read")
    if stray:
        return Undecided(item.key, f"FN receipt document(s) {_list(stray)} match no receipt of the buffer")
    return NotFiscalized(item.key)


def _numbers(
    doc: FnDocument, fn_last_fd: int, documents: Mapping[int, FnDocument], shift: ShiftParams
) -> tuple[int | None, int | None]:
    """Shift and receipt number of ``doc`` from the documents after it and FF40 (None if not derivable)."""
    later = [documents[n] for n in range(doc.fd_number + 1, fn_last_fd + 1) if n in documents]
    if len(later) != fn_last_fd - doc.fd_number:
        return doc.shift_number, None
    for other in later:
        if other.doc_type == DOC_SHIFT_CLOSE and other.shift_number is not None:
            return other.shift_number, None
        if other.doc_type == DOC_SHIFT_OPEN and other.shift_number is not None:
            return other.shift_number - 1, None
    if not shift.is_open:
        return doc.shift_number or shift.shift_number, None
    receipts_after = sum(1 for other in later if other.doc_type == DOC_RECEIPT)
    number = shift.receipt_number - 1 - receipts_after
    return shift.shift_number, number if number >= 1 else None


def _list(numbers: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:5])
    return shown + (" …" if len(numbers) > 5 else "")
