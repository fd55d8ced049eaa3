"""Reconciliation, the pure part: the buffer's receipts vs the FN's documents vs the HQ export
endpoint's listing (the optional export, ``docs/export-api.md``; not the OFD, whose confirmation is a receipt's
``ofd_confirmed_at``).

:func:`compare` takes what the three sources said about one FN over one scope (see
:mod:`kkt_adapter.ops.reconcile_scope`) and returns a :class:`Report`: counts and sums per (shift,
operation) for each source, and every :class:`Discrepancy`. No I/O; the same inputs give the same report.

What counts (the FN is the legal record, so it is the reference):

- buffer: receipts with a fiscal record (``fiscalized``, ``delivered``, ``dead``) under their recorded shift
  and operation (tag 1054); ``unknown`` receipts are reported as undecided, nothing else is counted;
- FN: receipt documents (type 3) under the shift opened by the nearest shift-open document (type 2) before
  them (FF0A gives a receipt no shift number), their operation and sum;
- export: the documents the HQ export endpoint holds (``GET /v1/documents/{id}`` answers 200), counted under
  the FN document's shift, operation and sum (the endpoint's answer carries only its ticket), or the buffer's
  if the FN range does not contain it.

Sums per (shift, operation) are compared between the buffer and the FN; the export column lags the buffer
by the documents not yet delivered, which is not a discrepancy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.export.contract import document_id
from kkt_adapter.kkt.types import FnDocument

S = ReceiptState
DOC_SHIFT_OPEN, DOC_RECEIPT, DOC_SHIFT_CLOSE = 2, 3, 5
WITH_FISCAL_RECORD = frozenset({S.FISCALIZED, S.DELIVERED, S.DEAD})
DOC_NAMES = {1: "registration report", 2: "shift-open report", 3: "receipt", 5: "shift-close report"}
OPERATIONS = {1: "sell", 2: "sell_return", 3: "buy", 4: "buy_return"}


class Kind(StrEnum):
    """What is wrong."""

    NOT_IN_FN = "not_in_fn"  # a receipt with a fiscal record whose FD the FN does not have in the scope
    FN_MISMATCH = "fn_mismatch"  # the FD exists but is not this receipt (type, sum, sign, operation, shift)
    UNEXPLAINED_FN = "unexplained_fn"  # an FN receipt document no buffer receipt claims
    CLAIMED_TWICE = "claimed_twice"  # one FD recorded for two receipts
    NOT_AT_EXPORT = "not_at_export"  # ``delivered``, but the HQ export endpoint does not hold the document
    UNKNOWN_AT_EXPORT = "unknown_at_export"  # the export endpoint holds a document of this FN no buffer receipt claims
    TOTALS_DIFFER = "totals_differ"  # count or sum per (shift, operation) differs between buffer and FN
    UNDECIDED = "undecided"  # ``unknown``: the daemon has not yet decided whether the FN fiscalized it
    FN_UNREADABLE = "fn_unreadable"  # the FN refused to return a document in the scope


@dataclass(frozen=True)
class BufferEntry:
    """The fields of a buffer receipt that reconciliation compares (``operation``: tag 1054)."""

    key: str
    state: ReceiptState
    operation: int
    total_kop: int
    fd_number: int | None = None
    fiscal_sign: int | None = None
    shift_number: int | None = None
    fn_serial: str | None = None


@dataclass(frozen=True)
class Sources:
    """Everything read about one FN (``fn_serial``). ``export_held``: document id → whether the HQ export
    endpoint holds it, for every id that was asked; None when it was not asked. ``fn_unreadable``: FDs the FN
    refused."""

    fn_serial: str
    buffer: Sequence[BufferEntry]
    fn_documents: Sequence[FnDocument]
    export_held: Mapping[str, bool] | None = None
    fn_unreadable: Sequence[int] = ()


@dataclass(frozen=True)
class Totals:
    count: int = 0
    sum_kop: int = 0

    def plus(self, sum_kop: int) -> Totals:
        return Totals(self.count + 1, self.sum_kop + sum_kop)


@dataclass(frozen=True)
class Row:
    """One (shift, operation): the totals of each source (``export`` None when the export endpoint was not asked)."""

    shift_number: int | None
    operation: int
    buffer: Totals
    fn: Totals
    export: Totals | None


@dataclass(frozen=True)
class Discrepancy:
    kind: Kind
    detail: str
    key: str | None = None
    fd_number: int | None = None


@dataclass(frozen=True)
class Report:
    rows: tuple[Row, ...]
    discrepancies: tuple[Discrepancy, ...]

    @property
    def clean(self) -> bool:
        return not self.discrepancies


Group = tuple[int | None, int]


def receipt_shifts(documents: Iterable[FnDocument]) -> dict[int, int | None]:
    """FD → shift of every receipt document: the shift of the nearest shift-open before it (None if no
    shift-open precedes it in ``documents``, or the shift was closed before it)."""
    shifts: dict[int, int | None] = {}
    current: int | None = None
    for doc in sorted(documents, key=lambda d: d.fd_number):
        if doc.doc_type == DOC_SHIFT_OPEN:
            current = doc.shift_number
        elif doc.doc_type == DOC_SHIFT_CLOSE:
            current = None
        elif doc.doc_type == DOC_RECEIPT:
            shifts[doc.fd_number] = current
    return shifts


def export_ids_to_ask(fn_serial: str, buffer: Iterable[BufferEntry], documents: Iterable[FnDocument]) -> list[str]:
    """The document ids whose presence at the export endpoint reconciliation needs: every FN receipt document and every
    buffer receipt with a fiscal record on this FN, sorted by FD."""
    numbers = {d.fd_number for d in documents if d.doc_type == DOC_RECEIPT}
    numbers |= {e.fd_number for e in buffer if e.fd_number is not None and e.state in WITH_FISCAL_RECORD}
    return [document_id(fn_serial, n) for n in sorted(numbers)]


def compare(sources: Sources) -> Report:
    """The report for ``sources``: totals per (shift, operation) and every discrepancy, in a stable order."""
    fiscal = sorted(
        (e for e in sources.buffer if e.state in WITH_FISCAL_RECORD and e.fd_number is not None),
        key=lambda e: (e.fd_number or 0, e.key),
    )
    by_fd = {d.fd_number: d for d in sources.fn_documents}
    shifts = receipt_shifts(sources.fn_documents)
    claims: dict[int, list[BufferEntry]] = defaultdict(list)
    for entry in fiscal:
        assert entry.fd_number is not None  # noqa: S101 -- filtered above
        claims[entry.fd_number].append(entry)
    found: list[Discrepancy] = [
        _undecided(e) for e in sorted(sources.buffer, key=lambda e: e.key) if e.state is S.UNKNOWN
    ]
    found += [Discrepancy(Kind.FN_UNREADABLE, f"FD {n}: the FN refused to return it", fd_number=n)
              for n in sorted(sources.fn_unreadable)]  # fmt: skip
    found += _claims_vs_fn(sources, claims, by_fd, shifts)
    found += _unexplained(by_fd, claims)
    rows = _rows(sources, fiscal, by_fd, shifts)
    found += [_totals_differ(row) for row in rows if row.buffer != row.fn]
    if sources.export_held is not None:
        found += _export(sources.fn_serial, sources.export_held, fiscal, claims)
    return Report(tuple(rows), tuple(found))


def _undecided(entry: BufferEntry) -> Discrepancy:
    detail = f"receipt {entry.key} is 'unknown': the daemon has not decided whether the FN fiscalized it"
    return Discrepancy(Kind.UNDECIDED, detail, key=entry.key)


def _claims_vs_fn(
    sources: Sources,
    claims: Mapping[int, list[BufferEntry]],
    by_fd: Mapping[int, FnDocument],
    shifts: Mapping[int, int | None],
) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    unreadable = set(sources.fn_unreadable)
    for fd_number in sorted(claims):
        entries = claims[fd_number]
        if len(entries) > 1:
            keys = ", ".join(sorted(e.key for e in entries))
            found.append(Discrepancy(Kind.CLAIMED_TWICE, f"FD {fd_number} is recorded for {keys}", fd_number=fd_number))
        if fd_number in unreadable:
            continue
        for entry in entries:
            found += _against_document(entry, by_fd.get(fd_number), shifts.get(fd_number), sources.fn_serial)
    return found


def _against_document(
    entry: BufferEntry, doc: FnDocument | None, fn_shift: int | None, fn_serial: str
) -> list[Discrepancy]:
    fd = entry.fd_number
    if doc is None:
        detail = f"receipt {entry.key} ({entry.total_kop} kop) has FD {fd}, which is not among the FN's documents read"
        return [Discrepancy(Kind.NOT_IN_FN, detail, key=entry.key, fd_number=fd)]
    if doc.doc_type != DOC_RECEIPT:
        name = DOC_NAMES.get(doc.doc_type, f"document of type {doc.doc_type}")
        detail = f"receipt {entry.key} has FD {fd}, which the FN holds as a {name}"
        return [Discrepancy(Kind.FN_MISMATCH, detail, key=entry.key, fd_number=fd)]
    differences = [
        f"{name} {ours} (buffer) ≠ {theirs} (FN)"
        for name, ours, theirs in (
            ("sum", entry.total_kop, doc.sum_kop),
            ("fiscal sign", entry.fiscal_sign, doc.fiscal_sign),
            ("operation", entry.operation, doc.operation),
            ("shift", entry.shift_number, fn_shift),
            ("FN", entry.fn_serial, fn_serial),
        )
        if ours != theirs and not (name == "shift" and fn_shift is None)
    ]
    if not differences:
        return []
    detail = f"receipt {entry.key}, FD {fd}: " + "; ".join(differences)
    return [Discrepancy(Kind.FN_MISMATCH, detail, key=entry.key, fd_number=fd)]


def _unexplained(by_fd: Mapping[int, FnDocument], claims: Mapping[int, list[BufferEntry]]) -> list[Discrepancy]:
    return [
        Discrepancy(
            Kind.UNEXPLAINED_FN,
            f"FN receipt FD {fd} ({OPERATIONS.get(doc.operation or 0, doc.operation)}, {doc.sum_kop} kop,"
            f" {doc.doc_datetime:%Y-%m-%d %H:%M}) is claimed by no buffer receipt",
            fd_number=fd,
        )
        for fd, doc in sorted(by_fd.items())
        if doc.doc_type == DOC_RECEIPT and fd not in claims
    ]


def _rows(
    sources: Sources,
    fiscal: Sequence[BufferEntry],
    by_fd: Mapping[int, FnDocument],
    shifts: Mapping[int, int | None],
) -> list[Row]:
    buffer: dict[Group, Totals] = defaultdict(Totals)
    fn: dict[Group, Totals] = defaultdict(Totals)
    export: dict[Group, Totals] = defaultdict(Totals)
    for entry in fiscal:
        group = (entry.shift_number, entry.operation)
        buffer[group] = buffer[group].plus(entry.total_kop)
    for doc in by_fd.values():
        if doc.doc_type == DOC_RECEIPT:
            group = (shifts.get(doc.fd_number), doc.operation or 0)
            fn[group] = fn[group].plus(doc.sum_kop or 0)
    for group, sum_kop in _held(sources, fiscal, by_fd, shifts):
        export[group] = export[group].plus(sum_kop)
    keys = sorted({*buffer, *fn, *export}, key=lambda g: (g[0] is None, g[0] or 0, g[1]))
    asked = sources.export_held is not None
    return [Row(g[0], g[1], buffer[g], fn[g], export[g] if asked else None) for g in keys]


def _held(
    sources: Sources,
    fiscal: Sequence[BufferEntry],
    by_fd: Mapping[int, FnDocument],
    shifts: Mapping[int, int | None],
) -> list[tuple[Group, int]]:
    """(group, sum) of every document the export endpoint holds: from the FN document, else from the buffer."""
    if sources.export_held is None:
        return []
    ours = {document_id(sources.fn_serial, e.fd_number): e for e in fiscal if e.fd_number is not None}
    held: list[tuple[Group, int]] = []
    for fd, doc in by_fd.items():
        if doc.doc_type == DOC_RECEIPT and sources.export_held.get(document_id(sources.fn_serial, fd)):
            held.append(((shifts.get(fd), doc.operation or 0), doc.sum_kop or 0))
    for doc_id, entry in ours.items():
        if entry.fd_number not in by_fd and sources.export_held.get(doc_id):
            held.append(((entry.shift_number, entry.operation), entry.total_kop))
    return held


def _totals_differ(row: Row) -> Discrepancy:
    name = OPERATIONS.get(row.operation, str(row.operation))
    shift = "no shift" if row.shift_number is None else f"shift {row.shift_number}"
    detail = (
        f"{shift}, {name}: buffer {row.buffer.count} receipts / {row.buffer.sum_kop} kop,"
        f" FN {row.fn.count} / {row.fn.sum_kop} kop"
    )
    return Discrepancy(Kind.TOTALS_DIFFER, detail)


def _export(
    fn_serial: str, held: Mapping[str, bool], fiscal: Sequence[BufferEntry], claims: Mapping[int, list[BufferEntry]]
) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    for entry in fiscal:
        assert entry.fd_number is not None  # noqa: S101 -- fiscal entries have an FD
        doc_id = document_id(fn_serial, entry.fd_number)
        if entry.state is S.DELIVERED and held.get(doc_id) is False:
            detail = f"receipt {entry.key} is 'delivered' but the HQ export endpoint does not hold {doc_id}"
            found.append(Discrepancy(Kind.NOT_AT_EXPORT, detail, key=entry.key, fd_number=entry.fd_number))
    prefix = f"{fn_serial}-"
    for doc_id in sorted(held, key=lambda i: (len(i), i)):
        number = doc_id.removeprefix(prefix)
        if held[doc_id] and doc_id.startswith(prefix) and number.isdigit() and int(number) not in claims:
            detail = f"the HQ export endpoint holds {doc_id}, which no buffer receipt claims"
            found.append(Discrepancy(Kind.UNKNOWN_AT_EXPORT, detail, fd_number=int(number)))
    return found
