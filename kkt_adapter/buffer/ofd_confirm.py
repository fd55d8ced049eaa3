"""The OFD's confirmation of a receipt: ``receipts.ofd_confirmed_at`` (migration 5), set once, never cleared.

What it means: the OFD holds the receipt's FN document. The FN only drops a document from its OFD queue
when it took the OFD's signed ticket for it, so the two sources are the FN's own word:

* ``ofd.mode = relay``: the relay wrote the OFD's ticket into the FN (or found from FF39 that the FN had
  already taken it): :func:`confirm_document`, in the same writer operation as the outbox row's
  ``written`` (:meth:`~kkt_adapter.buffer.outbox_store.OutboxMethods.outbox_mark_written`); a receipt that
  gets its FD only later (decided from the FN after a crash) is stamped when it is marked fiscalized
  (:func:`confirm_if_written`).
* ``ofd.mode = device`` (the KKT sends by itself): the FN watch's FF39 reading; every receipt of that FN
  below its first unsent FD (or up to its last FD when the queue is empty): :func:`confirm_below`, one
  statement and one event naming the range.

The receipt's ``state`` does not change (``fiscalized`` stays ``fiscalized``; ``delivered``/``dead`` are the
optional HQ export's). Each operation that confirms something appends one chained event (kind ``update``):
under the receipt's key for one document, without a key and naming the range for the bulk one.
"""

from __future__ import annotations

from datetime import datetime

from kkt_adapter.buffer.events import EventDraft
from kkt_adapter.buffer.records import ts
from kkt_adapter.buffer.writer import Tx

ACTOR = "ofd"


def confirm_document(tx: Tx, fn_serial: str, fd_number: int, now: datetime, reason: str) -> str | None:
    """Stamp the receipt that is FD ``fd_number`` of FN ``fn_serial`` as confirmed by the OFD, with its event;
    its key, or None when no receipt is that document (a shift report) or it was confirmed already."""
    stamp = ts(now)
    row = tx.conn.execute(
        "UPDATE receipts SET ofd_confirmed_at = ?, updated_at = ?"
        " WHERE fn_serial = ? AND fd_number = ? AND ofd_confirmed_at IS NULL RETURNING key, state",
        (stamp, stamp, fn_serial, fd_number),
    ).fetchone()
    if row is None:
        return None
    key, state = str(row[0]), str(row[1])
    detail = {"ofd_confirmed_at": stamp, "fn_serial": fn_serial, "fd_number": fd_number}
    tx.event(EventDraft(stamp, "update", reason, ACTOR, key, state, state, detail))
    return key


def confirm_if_written(tx: Tx, fn_serial: str, fd_number: int, now: datetime) -> str | None:
    """For a receipt that just became FD ``fd_number`` of FN ``fn_serial``: if the relay already marked that
    document ``written`` (a receipt decided from the FN only after its ticket was written), stamp it now
    (:func:`confirm_document`); its key or None. One primary-key lookup in the outbox."""
    row = tx.conn.execute(
        "SELECT 1 FROM outbox WHERE fn_serial = ? AND fd_number = ? AND state = 'written'", (fn_serial, fd_number)
    ).fetchone()
    if row is None:
        return None
    return confirm_document(tx, fn_serial, fd_number, now, f"the OFD's ticket of FD {fd_number} was already in the FN")


def confirm_below(tx: Tx, fn_serial: str, below_fd: int, now: datetime, reason: str) -> int:
    """Stamp every receipt of FN ``fn_serial`` with an FD below ``below_fd`` not confirmed yet (one statement,
    one event naming the FN, the range and the count when any changed); how many."""
    stamp = ts(now)
    row = tx.conn.execute(
        "SELECT count(*), min(fd_number), max(fd_number) FROM receipts"
        " WHERE fn_serial = ? AND fd_number < ? AND ofd_confirmed_at IS NULL",
        (fn_serial, below_fd),
    ).fetchone()
    count = int(row[0])
    if count == 0:
        return 0
    tx.conn.execute(
        "UPDATE receipts SET ofd_confirmed_at = ?, updated_at = ?"
        " WHERE fn_serial = ? AND fd_number < ? AND ofd_confirmed_at IS NULL",
        (stamp, stamp, fn_serial, below_fd),
    )
    detail = {
        "ofd_confirmed_at": stamp,
        "fn_serial": fn_serial,
        "below_fd": below_fd,
        "fd_from": int(row[1]),
        "fd_to": int(row[2]),
        "count": count,
    }
    tx.event(EventDraft(stamp, "update", reason, ACTOR, None, None, None, detail))
    return count
