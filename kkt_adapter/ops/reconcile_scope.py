"""Which FN documents a reconciliation covers: whole shifts, found by reading the FN archive backwards.

The FN numbers documents 1, 2, 3 … and a receipt document carries no shift number, so a shift is the run
of documents from its shift-open report (type 2) to its shift-close report (type 5, or the last document
while it is open). A :class:`Scope` is one shift (``--shift N``), every shift that was open at or after a
moment (``--since``, the KKT's local time, as the FN records it), or the FN's last shift (neither).

:func:`locate` is pure: given the documents read so far (a contiguous run ending at the FN's last
document), it returns the :class:`Window`, or None when it must see documents further back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from kkt_adapter.errors import AdapterError
from kkt_adapter.kkt.types import FnDocument

DOC_SHIFT_OPEN, DOC_SHIFT_CLOSE = 2, 5


class ScopeNotFound(AdapterError):
    """The FN has no such shift (the message says what was looked for and how far back)."""


@dataclass(frozen=True)
class Scope:
    """``shift``: that shift; ``since``: the shifts open at or after it (naive, KKT local); neither: the last."""

    shift: int | None = None
    since: datetime | None = None

    def describe(self) -> str:
        if self.shift is not None:
            return f"shift {self.shift}"
        if self.since is not None:
            return f"shifts since {self.since:%Y-%m-%d %H:%M}"
        return "the last shift"


@dataclass(frozen=True)
class Window:
    """FDs ``fd_from..fd_to`` of the FN, and the shifts opened in them (empty window: ``fd_from > fd_to``)."""

    fd_from: int
    fd_to: int
    shifts: tuple[int, ...]

    def holds(self, fd_number: int) -> bool:
        return self.fd_from <= fd_number <= self.fd_to


def locate(scope: Scope, documents: Sequence[FnDocument], last_fd: int, from_start: bool) -> Window | None:
    """The window of ``scope`` in ``documents`` (every readable document from some FD up to ``last_fd``;
    ``from_start``: from FD 1), None if they do not reach back far enough, :class:`ScopeNotFound` if the FN
    has no such shift."""
    docs = sorted(documents, key=lambda d: d.fd_number)
    if scope.shift is not None:
        return _shift(scope.shift, docs, last_fd, from_start)
    if scope.since is not None:
        return _since(scope.since, docs, last_fd, from_start)
    opens = [d for d in docs if d.doc_type == DOC_SHIFT_OPEN]
    if opens:
        return _shift(_number(opens[-1]), docs, last_fd, from_start)
    return Window(1, last_fd, ()) if from_start else None


def _number(doc: FnDocument) -> int:
    if doc.shift_number is None:
        raise ScopeNotFound(f"the FN's shift document FD {doc.fd_number} has no shift number")
    return doc.shift_number


def _shift(number: int, docs: Sequence[FnDocument], last_fd: int, from_start: bool) -> Window | None:
    opens = [d for d in docs if d.doc_type == DOC_SHIFT_OPEN and d.shift_number == number]
    if not opens:
        earlier = [d for d in docs if d.doc_type in (DOC_SHIFT_OPEN, DOC_SHIFT_CLOSE) and _number(d) < number]
        if earlier or from_start:
            back = docs[0].fd_number if docs else 1
            raise ScopeNotFound(f"shift {number} is not on the FN (read back to FD {back})")
        return None
    start = opens[-1].fd_number
    end = last_fd
    for doc in docs:
        if doc.fd_number > start and doc.doc_type in (DOC_SHIFT_OPEN, DOC_SHIFT_CLOSE):
            end = doc.fd_number if doc.doc_type == DOC_SHIFT_CLOSE else doc.fd_number - 1
            break
    return Window(start, end, (number,))


def _since(since: datetime, docs: Sequence[FnDocument], last_fd: int, from_start: bool) -> Window | None:
    opens = [d for d in docs if d.doc_type == DOC_SHIFT_OPEN]
    before = [d for d in opens if d.doc_datetime <= since]
    if not before:
        if not from_start:
            return None  # the shift open at ``since`` began further back
        start = 1
    else:
        start = before[-1].fd_number
        closed = [
            d
            for d in docs
            if d.doc_type == DOC_SHIFT_CLOSE and d.fd_number > start and d.shift_number == before[-1].shift_number
        ]
        if closed and closed[0].doc_datetime < since:
            later = [d for d in opens if d.fd_number > start]
            start = later[0].fd_number if later else last_fd + 1
    shifts = tuple(_number(d) for d in opens if d.fd_number >= start)
    return Window(start, last_fd, shifts)
