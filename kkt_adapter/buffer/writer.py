"""The single writer: one connection, group commit, on the writer thread or — for the intake — the loop.

Operations are plain functions of a :class:`Tx`. The writer thread takes every operation waiting in its
queue (up to ``group_max``), runs them in one ``BEGIN IMMEDIATE`` transaction and commits once. A caller's
future is resolved only after that commit returned: a reply sent on it is durable (``synchronous=FULL``).
Many concurrent receipts therefore share one fsync without any of them being acknowledged early; while
receipts arrive concurrently, a group of them waits half a millisecond to fill (:meth:`Writer._gather`).

One failing operation never undoes the others: the group first runs back to back (no savepoints: each
SQLite call hands the GIL over, and this is the intake's hot path); if an operation raises, the group is
rolled back and run again with each operation under its own savepoint. So an operation may run twice:
its only effects must be on its :class:`Tx` (every operation of the buffer is).

The intake's inserts go through :meth:`Writer.run_each`: the group's items of one ``run_many`` function are
handed to it in one call (``ops.insert_receipts``: one statement for all of a group's new receipts). While
the writer thread is idle, the intake's groups are run on the event loop instead and committed on another
thread (:meth:`Writer.begin_inline`, :meth:`Writer.commit_inline`, ``buffer/inline.py``): one lock keeps
the connection to one group at a time, wherever it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from kkt_adapter.buffer import events
from kkt_adapter.buffer.anchor import Anchor, AnchorFile, head_path, read_anchor
from kkt_adapter.buffer.chain_check import check_tail, last_event
from kkt_adapter.buffer.db import open_buffer
from kkt_adapter.buffer.errors import StorageUnavailable, StoreError
from kkt_adapter.buffer.states import PENDING

T = TypeVar("T")
ItemT = TypeVar("ItemT")
_log = logging.getLogger(__name__)
_STOP = object()
_TICK = object()  # wakes the writer thread to sync the chain-head record in time (after an inline group)
DISK_CHECK_S = 0.25
# The chain-head record is written after every commit and made durable at most this long after: an
# fdatasync per group, before its callers were told, cost the intake a few per cent (docs/benchmarks.md).
ANCHOR_SYNC_S = 0.5
GROUP_WAIT_S = 0.0005  # measured against 0.3, 1 and 2 ms under 16 concurrent clients (docs/benchmarks.md)


@dataclass
class Tx:
    """What an operation sees inside the writer's transaction.

    Events are chained at once (:meth:`event` moves ``chain_hash``) but inserted by :meth:`flush`, all of a
    group's in one statement: each SQLite call hands the GIL over, and the intake's hot path writes one event
    per receipt. Nothing inside a write operation reads the events table; one that must, flushes first.
    """

    conn: sqlite3.Connection
    chain_hash: str
    pending: int
    capacity: int
    changed: set[str] = field(default_factory=set)
    reanchor: bool = False  # set by an audited chain restart: the head record moves to the new head
    unwritten: list[events.EventRow] = field(default_factory=list)
    head: Anchor | None = None  # the newest event flushed in this transaction

    def event(self, draft: events.EventDraft) -> None:
        """Chain one event (inserted by the next :meth:`flush`) and note its key as changed."""
        row = events.chained(self.chain_hash, draft)
        self.unwritten.append(row)
        self.chain_hash = row[-1]
        if draft.key is not None:
            self.changed.add(draft.key)

    def flush(self) -> None:
        """Insert the events chained since the last flush."""
        if self.unwritten:
            seq = events.insert_rows(self.conn, self.unwritten)
            self.head = Anchor(seq, self.chain_hash)
            self.unwritten = []


# ``run_many(tx, items)``: every item's outcome, in order — its result, or the StoreError that left no write of it
RunMany = Callable[[Tx, list[Any]], list[Any]]


@dataclass
class _Op(Generic[T]):
    fn: Callable[[Tx], T]
    future: Future[T]
    intake: bool
    # an awaiting coroutine's future and its loop (``Writer.run``): woken once per group, not per operation
    waiter: asyncio.Future[T] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    woken: bool = False
    many: tuple[RunMany, Any] | None = None  # ``run_many`` and this op's item (:meth:`Writer.run_each`)


class _GoThroughQueue(Exception):
    """An inline group that cannot be taken on the event loop (see :meth:`Writer.begin_inline`)."""


def storage_error(exc: sqlite3.Error) -> StorageUnavailable:
    """Translate a failed write into a clear, retryable error."""
    text = str(exc)
    if "full" in text:
        return StorageUnavailable("the disk is full: the receipt was not saved; free some space")
    if "readonly" in text or "read-only" in text:
        return StorageUnavailable("the database file or its directory is read-only: the receipt was not saved")
    return StorageUnavailable(f"the database cannot be written ({text}): nothing was saved; check the disk")


class Writer:
    """Owns the only writing connection; see the module docstring for the commit rule."""

    def __init__(
        self,
        path: Path,
        busy_timeout_ms: int = 5000,
        group_max: int = 256,
        capacity: int = 500_000,
        min_free_bytes: int = 0,
        on_commit: Callable[[set[str]], None] | None = None,
        group_wait_s: float = GROUP_WAIT_S,
    ) -> None:
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._group_max = group_max
        self._group_wait_s = group_wait_s
        self._last_group = 1
        self._min_free_bytes = min_free_bytes
        self._low = False  # the file system's last answer (``_disk_low``), and when it was asked
        self._disk_checked: float | None = None
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # held for a whole group, from BEGIN to its bookkeeping: by the writer thread, or from the event
        # loop's begin_inline to the commit_inline of the thread that commits it
        self._lock = threading.Lock()
        self._wanted = False  # the writer thread has an operation in hand: no group begins on the loop
        self._closing = False
        self._conn = open_buffer(path, busy_timeout_ms)
        marks = ",".join("?" * len(PENDING))
        self.pending: int = self._conn.execute(
            f"SELECT count(*) FROM receipts WHERE state IN ({marks})",  # noqa: S608 — placeholders only
            tuple(s.value for s in PENDING),
        ).fetchone()[0]
        self.capacity = capacity
        self.last_error: str | None = None
        # A log whose end no longer holds the anchored head stays flagged: moving the anchor on would erase
        # the evidence. Only an audited chain restart (``Tx.reanchor``) moves it again.
        self.tail_break = check_tail(self._conn, read_anchor(head_path(path)))
        self.head_seq = 0
        self._anchor: AnchorFile | None = None
        self._anchor_due: float | None = None  # when the record written last must be synced at the latest
        head = last_event(self._conn)
        try:
            self._anchor = AnchorFile(head_path(path))
            if head is not None and self.tail_break is None and read_anchor(self._anchor.path) is None:
                self._anchor.write(head)
        except OSError:  # a full or read-only disk must not stop the start: the intake refuses on its own
            _log.exception("the audit chain's head record cannot be written; the tail is not anchored now")
        if head is not None:
            self.head_seq = head.seq
        self._thread = threading.Thread(target=self._loop, name="buffer-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[Tx], T], intake: bool = False) -> Future[T]:
        """Queue ``fn`` for the next group; the future resolves after its commit (or with its error)."""
        future: Future[T] = Future()
        self._queue.put(_Op(fn, future, intake))
        return future

    async def run(self, fn: Callable[[Tx], T], intake: bool = False) -> T:
        """Await ``fn`` run in a committed transaction.

        The writer wakes the awaiting loop once per group (one ``call_soon_threadsafe`` for all of the
        group's callers on that loop) after the outcome is set; a caller cancelled before its group
        started is dropped, as with :meth:`submit`."""
        return await self._await(_Op(fn, Future(), intake))

    async def run_each(
        self, run_many: Callable[[Tx, list[ItemT]], list[T | StoreError]], item: ItemT, intake: bool = False
    ) -> T:
        """Await ``item``'s outcome of ``run_many``, which takes the items of every such call in one group at
        once (the intake: one statement for a group's new receipts). ``run_many`` returns each item's result,
        or the :class:`StoreError` that left none of that item's writes; it may also run on one item alone
        (when another operation of the group failed, see the module docstring)."""

        def alone(tx: Tx) -> T:
            (outcome,) = run_many(tx, [item])
            if isinstance(outcome, StoreError):
                raise outcome
            return outcome

        return await self._await(_Op(alone, Future(), intake, many=(run_many, item)))

    async def _await(self, op: _Op[T]) -> T:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[T] = loop.create_future()
        future = op.future
        op.waiter, op.loop = waiter, loop
        self._queue.put(op)
        try:
            return await waiter
        except asyncio.CancelledError:
            future.cancel()  # only succeeds while the group has not started
            raise

    def close(self) -> None:
        """Finish what is queued, then close the connection."""
        self._closing = True
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    # --- a group opened on the event loop (``buffer/inline.py``) ----------------------------------------

    def begin_inline(self, run_many: RunMany, items: list[Any]) -> tuple[Tx, list[Any]] | None:
        """On the event loop, while the writer is idle: take the connection and run ``run_many(items)`` in a
        new transaction, left open for :meth:`commit_inline` (on another thread: the COMMIT waits for the
        disk). None when the writer is busy or closing, another process is writing, the disk is low or
        anything fails: then nothing was written and the caller goes through the queue, whose group rules
        decide. The loop never waits: the lock is only tried, and SQLite's busy timeout is 0 meanwhile."""
        if self._closing or self._wanted or not self._queue.empty() or not self._lock.acquire(blocking=False):
            return None
        try:
            if self._disk_low():
                raise _GoThroughQueue
            self._conn.execute("PRAGMA busy_timeout=0")
            self._conn.execute("BEGIN IMMEDIATE")
            tx = Tx(self._conn, events.last_hash(self._conn), self.pending, self.capacity)
            outcomes = run_many(tx, items)
            tx.flush()
            if not self._conn.in_transaction:  # SQLite rolled it back (disk full, I/O error)
                raise _GoThroughQueue
        except Exception:
            self._end_inline(rollback=True)
            return None
        return tx, outcomes

    def commit_inline(self, tx: Tx) -> StorageUnavailable | None:
        """Commit a transaction of :meth:`begin_inline` and give the connection back; the error that undid
        it, if any (its operations' outcomes stand only when None). Never on the event loop."""
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            error = storage_error(exc)
            self.last_error = str(error)
            self._end_inline(rollback=True)
            return error
        try:
            self._note_commit(tx)
        finally:  # whatever happens, the connection is given back: the writer thread waits for it
            self._end_inline(rollback=False)
        return None

    def committed(self, changed: set[str]) -> None:
        """Tell the commit listener what a committed group changed (after its callers were told)."""
        if changed and self._on_commit is not None:
            try:
                self._on_commit(changed)
            except Exception:  # the group is committed and told so: a listener's bug is not a storage failure
                _log.exception("a commit listener failed; the committed group stands")

    def _end_inline(self, rollback: bool) -> None:
        if rollback and self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
        self._lock.release()

    # --- the writer thread --------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            first = self._next()
            if first is _STOP:
                break
            if first is _TICK:
                continue
            self._wanted = True
            batch = self._gather(first)
            self._last_group = len(batch)
            with self._lock:
                self._wanted = False
                try:
                    self._run_batch(batch)
                except Exception as exc:  # the thread must not die: every later caller would wait forever
                    self._recover(batch, exc)
            _wake(batch)
        with self._lock:
            self._conn.close()
            if self._anchor is not None:
                self._sync_anchor()
                self._anchor.close()

    def _next(self) -> Any:
        """The next queued operation; while waiting for it, the chain-head record is synced when due."""
        if self._anchor_due is None:
            return self._queue.get()
        try:
            return self._queue.get(timeout=max(0.0, self._anchor_due - time.monotonic()))
        except queue.Empty:
            with self._lock:
                self._sync_anchor()
            return self._queue.get()

    def _gather(self, first: _Op[Any]) -> list[_Op[Any]]:
        """``first`` and what else is queued, up to ``group_max``. When ``first`` is a new receipt and the
        last group had company (receipts are arriving concurrently), first sleep ``group_wait_s`` so that more
        arrive: bigger groups share one fsync and one wake-up. A lone POS never waits, nor does a device's
        write (an intent must be durable before its first byte goes out: it is on the printing's path).
        One sleep, not a wait per arrival: each wake-up of this thread would take the GIL from the event loop
        that is parsing them (``docs/benchmarks.md``)."""
        if first.intake and self._last_group > 1 and self._group_wait_s > 0:
            time.sleep(self._group_wait_s)
        batch = [first]
        while len(batch) < self._group_max:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is _STOP:
                self._queue.put(_STOP)
                break
            if nxt is not _TICK:
                batch.append(nxt)
        return batch

    def _recover(self, batch: list[_Op[Any]], exc: Exception) -> None:
        """After an unexpected error before a group's commit: roll back, fail its unresolved futures, keep serving."""
        error = StorageUnavailable(f"the database cannot be written ({exc}): nothing was saved; check the disk")
        self.last_error = str(error)
        with contextlib.suppress(sqlite3.Error):
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        for op in batch:
            _settle(op.future, error)

    def _disk_low(self) -> bool:
        """Free space under ``min_free_bytes``: asked of the file system at most every ``DISK_CHECK_S`` while
        there is room (the intake's peak rate fills ~1 MB in that time), before every group once it is low."""
        if self._min_free_bytes <= 0:
            return False
        now = time.monotonic()
        if not self._low and self._disk_checked is not None and now - self._disk_checked < DISK_CHECK_S:
            return False
        self._disk_checked = now
        try:
            self._low = shutil.disk_usage(self.path.parent).free < self._min_free_bytes
        except OSError:
            self._low = False
        return self._low

    def _run_batch(self, batch: list[_Op[Any]]) -> None:
        # A caller that cancelled before its group started is dropped; from here on a future cannot be
        # cancelled any more, so what each caller is told is exactly what the commit decided.
        batch = [op for op in batch if op.future.set_running_or_notify_cancel()]
        if not batch:
            return
        if self._disk_low():
            low = StorageUnavailable("the disk is almost full: new receipts are refused; free some space")
            for op in [op for op in batch if op.intake]:
                op.future.set_exception(low)
            batch = [op for op in batch if not op.intake]
            if not batch:
                return
        if not self._attempt(batch, isolate=False):
            self._attempt(batch, isolate=True)

    def _attempt(self, batch: list[_Op[Any]], isolate: bool) -> bool:
        """Run the group in one transaction and commit it. Without ``isolate`` (the common case: no operation
        fails) the operations run back to back; if one raises, the group is rolled back and False returned,
        to be run again with each operation under its own savepoint, so that its failure undoes only its own
        writes. True: the group is settled (committed, or every caller told why not)."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            # Re-read the chain's head under the write lock: another process (a CLI command) may have
            # appended an event since our last commit; chaining to a stale head would fork the log.
            head = events.last_hash(self._conn)
        except sqlite3.Error as exc:
            self._abort(batch, storage_error(exc))
            return True
        tx = Tx(self._conn, head, self.pending, self.capacity)
        outcomes = self._run_each(tx, batch) if isolate else self._run_all(tx, batch)
        if not self._conn.in_transaction:
            # SQLite rolled the whole transaction back (disk full, I/O error). Running the next operation now
            # would open a fresh implicit transaction and commit it alone, chained to an event that no longer
            # exists: stop here and tell every caller the truth.
            self._fail_all(batch, StorageUnavailable("the database rejected the write; nothing was saved"))
            return True
        if outcomes is None:
            self._conn.execute("ROLLBACK")
            return False
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._abort(batch, storage_error(exc))
            return True
        self._note_commit(tx)
        for op, (ok, value) in zip(batch, outcomes, strict=True):
            if ok:
                op.future.set_result(value)
            else:
                op.future.set_exception(value)
        _wake(batch)  # the callers first, then the commit listeners (as before: wrap_future woke them first)
        self.committed(tx.changed)
        return True

    def _abort(self, batch: list[_Op[Any]], error: StorageUnavailable) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        self._fail_all(batch, error)

    def _note_commit(self, tx: Tx) -> None:
        """The bookkeeping of a committed group, whichever way it ran: the head record, the pending count."""
        if tx.head is not None:
            self._move_anchor(tx.head, tx.reanchor)
        self.pending, self.last_error = tx.pending, None

    def _move_anchor(self, head: Anchor, restart: bool) -> None:
        """Write the committed head before any caller is told; it is synced by ``ANCHOR_SYNC_S`` after (an
        audited restart at once). See :mod:`kkt_adapter.buffer.anchor`."""
        self.head_seq = head.seq
        if self._anchor is None:
            return
        try:
            if restart:
                self._anchor.reset(head)
                self.tail_break = None
            elif self.tail_break is None:
                self._anchor.write(head, sync=False)
                if self._anchor_due is None:
                    self._anchor_due = time.monotonic() + ANCHOR_SYNC_S
                    if threading.current_thread() is not self._thread:  # committed elsewhere: the writer
                        self._queue.put(_TICK)  # thread may be waiting without a timeout; it syncs when due
        except OSError:  # the group is committed; a lagging anchor only weakens the tail check, never lies
            _log.exception("the audit chain's head record could not be written")
        if self._anchor_due is not None and time.monotonic() >= self._anchor_due:
            self._sync_anchor()

    def _sync_anchor(self) -> None:
        if self._anchor is None or self._anchor_due is None:
            return
        self._anchor_due = None
        try:
            self._anchor.sync()
        except OSError:
            _log.exception("the audit chain's head record could not be synced")

    def _run_all(self, tx: Tx, batch: list[_Op[Any]]) -> list[tuple[bool, Any]] | None:
        """Run the operations back to back, no savepoints (those of one ``run_many`` in one call, where the
        first of them stands); None as soon as one raises."""
        values: dict[int, tuple[bool, Any]] = {}
        try:
            for index, op in enumerate(batch):
                if index in values:
                    continue
                if op.many is None:
                    values[index] = (True, op.fn(tx))
                    continue
                run_many = op.many[0]
                members = [(i, m[1]) for i in range(index, len(batch)) if (m := batch[i].many) and m[0] is run_many]
                outcomes = run_many(tx, [item for _, item in members])
                for (i, _), outcome in zip(members, outcomes, strict=True):
                    values[i] = (not isinstance(outcome, StoreError), outcome)
            tx.flush()
        except Exception:  # each outcome is decided by the isolated run
            return None
        return [values[i] for i in range(len(batch))]

    def _run_each(self, tx: Tx, batch: list[_Op[Any]]) -> list[tuple[bool, Any]]:
        """Run each operation under its own savepoint (stops if SQLite rolled the whole transaction back)."""
        outcomes = []
        for op in batch:
            outcomes.append(self._run_one(tx, op))
            if not self._conn.in_transaction:
                break
        return outcomes

    def _run_one(self, tx: Tx, op: _Op[Any]) -> tuple[bool, Any]:
        """Run one operation under its savepoint; its failure undoes only its own writes and bookkeeping."""
        saved = (tx.chain_hash, tx.pending, set(tx.changed), tx.head)
        try:
            self._conn.execute("SAVEPOINT op")
            value = op.fn(tx)
            tx.flush()
            self._conn.execute("RELEASE op")
        except Exception as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK TO op")
                self._conn.execute("RELEASE op")
            tx.chain_hash, tx.pending, tx.changed, tx.head = saved
            tx.unwritten = []
            # no sqlite3 error leaves the buffer (ops turn the ones with a meaning into StoreErrors first)
            return False, storage_error(exc) if isinstance(exc, sqlite3.Error) else exc
        return True, value

    def _fail_all(self, batch: list[_Op[Any]], error: StorageUnavailable) -> None:
        self.last_error = str(error)
        for op in batch:
            _settle(op.future, error)


def _wake(batch: list[_Op[Any]]) -> None:
    """Hand each settled operation's outcome to its awaiting loop: one ``call_soon_threadsafe`` per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Op[Any]]] = {}
    for op in batch:
        if op.loop is not None and not op.woken and op.future.done():
            op.woken = True
            by_loop.setdefault(op.loop, []).append(op)
    for loop, ops in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody awaits any more
            loop.call_soon_threadsafe(_deliver, ops)


def _deliver(ops: list[_Op[Any]]) -> None:
    """On the caller's loop: copy each outcome into its waiter (one a caller cancelled stays cancelled)."""
    for op in ops:
        waiter = op.waiter
        if waiter is None or waiter.done():
            continue
        if op.future.cancelled():
            waiter.cancel()
        elif (error := op.future.exception()) is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(op.future.result())


def _settle(future: Future[Any], error: Exception) -> None:
    """Fail ``future`` unless it already holds an outcome (idempotent)."""
    with contextlib.suppress(InvalidStateError):
        future.set_exception(error)
