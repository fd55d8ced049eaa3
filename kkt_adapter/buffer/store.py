"""The buffer's async facade: every read and write the rest of the daemon needs, and nothing else speaks SQL.

Writes run on the single writer thread (:mod:`kkt_adapter.buffer.writer`): each is one operation that
commits whole — its row changes and their chained events together — or not at all, and resolves only
after its commit (each method's docstring says what it changes atomically). Reads run on one reader
thread with its own connection, so a slow fsync never delays ``GET /v1/receipts/{id}`` behind the intake.
No ``sqlite3`` error leaves the buffer: callers see :mod:`kkt_adapter.buffer.errors`.

Time: every write's time is the injected ``clock``. The store stamps it itself, except the sync's and
the outbox's scheduling writes (claims, leases, retries, dead letters): those take ``now`` from their
loop, which decides due times with the same instant it stamps — and the daemon gives each loop this
store's ``clock`` (``daemon/wiring.py``), so one wall clock serves all.
SQL lives in :mod:`.ops` (writes) and :mod:`.queries` (reads), none here.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from kkt_adapter.buffer import ofd_confirm, ops, queries
from kkt_adapter.buffer.chain_check import startup_check
from kkt_adapter.buffer.db import connect
from kkt_adapter.buffer.errors import IdempotencyConflict, StorageUnavailable
from kkt_adapter.buffer.events import ChainVerdict, Event
from kkt_adapter.buffer.inline import InlineIntake
from kkt_adapter.buffer.outbox_store import OutboxMethods
from kkt_adapter.buffer.records import FiscalRecord, StoredReceipt, ts
from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.buffer.writer import Tx, Writer
from kkt_adapter.clock import utc_now
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem

T = TypeVar("T")
S = ReceiptState
Clock = Callable[[], datetime]


class Store(OutboxMethods):
    """Open with :meth:`open` inside the event loop; close with :meth:`close`. The OFD outbox's methods
    (``outbox_*``) come from :class:`~kkt_adapter.buffer.outbox_store.OutboxMethods`."""

    def __init__(self, writer: Writer, path: Path, busy_timeout_ms: int, clock: Clock) -> None:
        self.writer = writer
        self._inline = InlineIntake(writer)
        self.clock = clock
        self._loop = asyncio.get_running_loop()
        self._reader_conn: sqlite3.Connection | None = None
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="buffer-reader")
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._waiters: dict[str, list[asyncio.Event]] = {}
        self._listeners: list[Callable[[set[str]], None]] = []
        self.chain_verdict = ChainVerdict(0, None, None)

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        capacity: int = 500_000,
        busy_timeout_ms: int = 5000,
        group_max: int = 256,
        min_free_bytes: int = 0,
        clock: Clock = utc_now,
    ) -> Store:
        """Open (create, migrate) the buffer at ``path``; raises DatabaseRefused for a foreign/corrupt file."""
        holder: list[Store] = []
        writer = await asyncio.to_thread(
            Writer,
            path,
            busy_timeout_ms,
            group_max,
            capacity,
            min_free_bytes,
            lambda keys: holder[0]._committed(keys),
        )
        store = cls(writer, path, busy_timeout_ms, clock)
        holder.append(store)
        store.chain_verdict = await asyncio.to_thread(_startup_chain_check, path, busy_timeout_ms)
        return store

    async def close(self) -> None:
        await self._inline.close()
        await asyncio.to_thread(self.writer.close)
        await asyncio.get_running_loop().run_in_executor(self._reader, self._close_reader)
        self._reader.shutdown(wait=True)

    # --- plumbing -------------------------------------------------------------------------------------

    async def _write(self, fn: Callable[[Tx], T], intake: bool = False) -> T:
        return await self.writer.run(fn, intake)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._loop.run_in_executor(self._reader, self._with_reader, fn)

    def _with_reader(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            if self._reader_conn is None:
                self._reader_conn = connect(self._path, self._busy_timeout_ms)
            return fn(self._reader_conn)
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"the database cannot be read ({exc})") from exc

    def _close_reader(self) -> None:
        if self._reader_conn is not None:
            self._reader_conn.close()
            self._reader_conn = None

    def _committed(self, keys: set[str]) -> None:
        """Called on the writer thread after a commit that changed ``keys``."""
        self._loop.call_soon_threadsafe(self._notify, keys)

    def _notify(self, keys: set[str]) -> None:
        for key in keys:
            for event in self._waiters.pop(key, []):
                event.set()
        for listener in self._listeners:
            listener(keys)

    def add_listener(self, listener: Callable[[set[str]], None]) -> None:
        """Call ``listener(keys)`` on the event loop after every commit that changed receipts."""
        self._listeners.append(listener)

    async def wait_for_change(self, key: str, timeout_s: float) -> bool:
        """Wait until the receipt ``key`` changes (or ``timeout_s`` passes); True if it changed."""
        event = asyncio.Event()
        self._waiters.setdefault(key, []).append(event)
        try:
            await asyncio.wait_for(event.wait(), timeout_s)
        except TimeoutError:
            waiters = self._waiters.get(key, [])
            if event in waiters:
                waiters.remove(event)
            return False
        return True

    @property
    def pending(self) -> int:
        """Receipts occupying capacity (as of the last commit)."""
        return self.writer.pending

    @property
    def chain_head_seq(self) -> int:
        """The newest committed event's sequence number (anchored beside the database)."""
        return self.writer.head_seq

    @property
    def chain_problem(self) -> str | None:
        """Where the audit chain broke, as found at start (and by the writer's anchor), or None."""
        verdict = self.chain_verdict if not self.chain_verdict.ok else self.writer.tail_break
        return None if verdict is None else f"event {verdict.broken_seq}: {verdict.problem}"

    # --- intake and reads -----------------------------------------------------------------------------

    async def insert_receipt(
        self, key: str, receipt: ReceiptIn, device_id: str, tax_system: TaxSystem
    ) -> tuple[StoredReceipt, bool]:
        """Atomically: store a new receipt as ``accepted`` with its event, or find the same one (``created``
        False); resolves after the commit. Another body under the key is :class:`IdempotencyConflict`."""
        new = ops.NewReceipt.prepare(key, receipt, device_id, tax_system, self.clock())
        return await self._inline.insert(new)

    async def find_replay(self, key: str, receipt: ReceiptIn) -> StoredReceipt | None:
        """The receipt stored under ``key`` if ``receipt`` is its replay (same body), None for a new key;
        :class:`IdempotencyConflict` when the key holds another body (read only: nothing is written)."""
        digest = ops.body_hash(receipt)
        stored = await self.get(key)
        if stored is not None and stored.body_hash != digest:
            raise IdempotencyConflict(key)
        return stored

    async def get(self, key: str) -> StoredReceipt | None:
        return await self._read(partial(queries.get, key=key))

    async def listing(self, state: ReceiptState | None, after_seq: int, limit: int) -> list[StoredReceipt]:
        return await self._read(partial(queries.listing, state=state, after_seq=after_seq, limit=limit))

    async def of_device(self, device_id: str, states: tuple[ReceiptState, ...], limit: int = 1) -> list[StoredReceipt]:
        return await self._read(partial(queries.of_device, device_id=device_id, states=states, limit=limit))

    async def incomplete_prints(self, device_id: str) -> list[StoredReceipt]:
        return await self._read(partial(queries.incomplete_prints, device_id=device_id))

    async def count_by_state(self) -> dict[str, int]:
        return await self._read(queries.count_by_state)

    async def unfinished_by_device(self) -> dict[str, int]:
        """Device id → receipts not yet fiscalized (accepted, printing, unknown)."""
        return await self._read(queries.unfinished_by_device)

    async def move_accepted(self, from_device: str, to_device: str, actor: str) -> list[str]:
        """Atomically: every ``accepted`` receipt of ``from_device`` to ``to_device``, each an event, audited."""
        return await self._write(
            partial(ops.move_accepted, from_device=from_device, to_device=to_device, actor=actor, now=self.clock())
        )

    async def reject_accepted(self, device: str, actor: str, reason: str) -> list[str]:
        """Atomically: every ``accepted`` receipt of ``device`` → ``rejected`` with ``reason``, audited."""
        return await self._write(
            partial(ops.reject_accepted, device=device, actor=actor, reason=reason, now=self.clock())
        )

    async def oldest(self) -> tuple[datetime | None, datetime | None, int]:
        return await self._read(queries.oldest)

    async def events_of(self, key: str) -> list[Event]:
        return await self._read(partial(queries.events_of, key=key))

    async def audit_events(self, limit: int = 100) -> list[Event]:
        return await self._read(partial(queries.audit_events, limit=limit))

    async def get_setting(self, name: str) -> str | None:
        return await self._read(partial(queries.setting, name=name))

    async def set_setting(self, name: str, value: str, actor: str) -> None:
        """Atomically: the setting and its audit event."""
        await self._write(partial(ops.put_setting, name=name, value=value, actor=actor, now=self.clock()))

    async def audit(self, action: str, actor: str, detail: dict[str, Any], key: str | None = None) -> None:
        """Atomically: append a security-relevant action to the chained log."""
        await self._write(partial(ops.audit, action=action, actor=actor, detail=detail, now=self.clock(), key=key))

    # --- the print pipeline ---------------------------------------------------------------------------

    async def note_fn(self, device_id: str, fn_serial: str) -> str | None:
        """Atomically: remember the device's FN serial; when it changed, the audit event "FN replaced: old →
        new" in the same commit, and the old serial is returned (None: unchanged or first seen)."""
        return await self._write(partial(ops.note_fn, device_id=device_id, fn_serial=fn_serial, now=self.clock()))

    async def begin_printing(self, key: str, last_fd: int, fn_serial: str | None = None) -> StoredReceipt:
        """Atomically: accepted → printing with the intent (the FN's last FD and the FN's serial) and the
        attempt counted; the intent is durable before the first byte goes to the device."""
        on_fn = "" if fn_serial is None else f" on FN {fn_serial}"
        return await self._write(
            lambda tx: ops.transition(
                tx,
                key,
                S.PRINTING,
                self.clock(),
                f"printing; FN last FD {last_fd}{on_fn}",
                intent_last_fd=last_fd,
                intent_fn_serial=fn_serial,
                print_attempts=ops.increment(tx, key, "print_attempts"),
            )
        )

    async def mark_fiscalized(
        self, key: str, record: FiscalRecord, print_incomplete: bool, reason: str
    ) -> StoredReceipt:
        """Atomically: printing/unknown → fiscalized with the FN's numbers and the event;
        :class:`DocumentTaken` (nothing written) if that FN document belongs to another receipt. If the relay
        already wrote that document's ticket into the FN, ``ofd_confirmed_at`` too (:mod:`.ofd_confirm`)."""

        def op(tx: Tx) -> StoredReceipt:
            now = self.clock()
            columns = ops.fiscal_columns(record)
            stored = ops.transition(
                tx, key, S.FISCALIZED, now, reason, print_incomplete=int(print_incomplete), **columns
            )
            if ofd_confirm.confirm_if_written(tx, record.fn_serial, record.fd_number, now) is None:
                return stored
            return queries.get(tx.conn, key) or stored  # read back with the stamp (the row exists)

        return await self._write(op)

    async def mark_unknown(self, key: str, reason: str) -> StoredReceipt:
        """Atomically: printing → unknown (the FN must decide it before anything else) with the reason."""
        return await self._write(lambda tx: ops.transition(tx, key, S.UNKNOWN, self.clock(), reason, last_error=reason))

    async def back_to_accepted(self, key: str, reason: str) -> StoredReceipt:
        """Atomically: printing/unknown → accepted (proven not fiscalized, printed again) with the reason."""
        return await self._write(
            lambda tx: ops.transition(tx, key, S.ACCEPTED, self.clock(), reason, last_error=reason)
        )

    async def mark_rejected(self, key: str, code: int | None, reason: str) -> StoredReceipt:
        """Atomically: printing → rejected (terminal) with the code and the reason the POS reads."""
        return await self._write(
            lambda tx: ops.transition(tx, key, S.REJECTED, self.clock(), reason, reject_code=code, reject_reason=reason)
        )

    async def mark_printed(self, key: str) -> StoredReceipt:
        """Atomically: the paper copy of a fiscalized receipt is finished (flag and event)."""
        return await self._write(
            lambda tx: ops.set_flag(tx, key, self.clock(), "paper copy finished", print_incomplete=0)
        )

    # --- the OFD sync ---------------------------------------------------------------------------------

    async def claim_for_sync(
        self, limit: int, lease_s: float, now: datetime, max_wait_s: float | None = None
    ) -> list[StoredReceipt]:
        """Atomically lease up to ``limit`` due ``fiscalized`` documents, oldest first.

        Clock steps: leases and retry times are wall-clock stamps from the caller's ``now``. A lease ending
        after ``now + lease_s``, or (with ``max_wait_s``, the longest retry wait the caller can schedule) a
        retry time after ``now + max_wait_s``, can only have been written before the wall clock was stepped
        back (NTP correcting a bad RTC): it counts as due, so nothing waits longer than its lease or backoff.
        The same rule as the outbox's (:func:`kkt_adapter.buffer.outbox.claim`).
        """
        lease_end = ts(now + timedelta(seconds=lease_s))
        wait_end = None if max_wait_s is None else ts(now + timedelta(seconds=max_wait_s))
        return await self._write(partial(ops.claim, limit=limit, lease_until=lease_end, now=ts(now), wait_end=wait_end))

    async def release_leases(self, keys: list[str]) -> None:
        """End the sync leases of ``keys`` now (fiscalized rows only; a lease is not an event)."""
        if keys:
            await self._write(partial(ops.release_leases, keys=list(keys)))

    async def mark_delivered(self, key: str, ticket: str, now: datetime) -> None:
        """Atomically: fiscalized → delivered with the OFD's ticket; idempotent (a second delivery is ignored)."""
        await self._write(partial(ops.deliver, key=key, ticket=ticket, now=now))

    async def mark_delivered_many(self, tickets: list[tuple[str, str]], now: datetime) -> list[str]:
        """Atomically, in one writer operation: each ``(key, ticket)`` fiscalized → delivered, each with its
        own chained event; idempotent per key like :meth:`mark_delivered` (an already delivered key is left
        as it is). A key that is missing or not ``fiscalized`` is skipped (nothing written for it) and
        returned, so one odd key never blocks the others; the rows are not read back."""
        if not tickets:
            return []
        return await self._write(partial(ops.deliver_many, tickets=list(tickets), now=now))

    async def schedule_retry(
        self, key: str, next_attempt_at: datetime, error: str, response: str | None, now: datetime
    ) -> None:
        """Atomically: count a failed attempt, set when to try again, release the lease, log the event."""
        await self._write(
            lambda tx: ops.set_flag(
                tx,
                key,
                now,
                f"OFD attempt failed: {error}",
                sync_attempts=ops.increment(tx, key, "sync_attempts"),
                next_attempt_at=ts(next_attempt_at),
                last_error=error,
                last_response=response,
                lease_until=None,
            )
        )

    async def mark_dead(self, key: str, reason: str, response: str | None, now: datetime) -> None:
        """Atomically: fiscalized → dead (DLQ) with the reason and the last response, the lease released."""
        await self._write(
            lambda tx: ops.transition(
                tx,
                key,
                S.DEAD,
                now,
                reason,
                dead_reason=reason,
                last_error=reason,
                last_response=response,
                sync_attempts=ops.increment(tx, key, "sync_attempts"),
                lease_until=None,
                dead_acked=0,
            )
        )

    async def next_sync_due(self) -> datetime | None:
        return await self._read(queries.next_sync_due)

    async def list_dead(self, limit: int = 100, offset: int = 0) -> list[StoredReceipt]:
        return await self._read(partial(queries.dead, limit=limit, offset=offset))

    async def replay_dead(self, key: str | None, actor: str, include_acknowledged: bool = False) -> int:
        """Atomically: dead → fiscalized (same document id) for one key or all (acknowledged ones only with
        ``include_acknowledged``), attempts reset, audited; the count."""
        return await self._write(
            partial(ops.replay_dead, key=key, actor=actor, now=self.clock(), include_acknowledged=include_acknowledged)
        )

    async def resend_delivered(self, key: str, actor: str, reason: str) -> None:
        """Atomically: delivered → fiscalized (same document id, sent again by the sync), audited;
        :class:`NotFound` / :class:`IllegalTransition` (nothing written) when it is not ``delivered``."""
        await self._write(partial(ops.resend_delivered, key=key, actor=actor, reason=reason, now=self.clock()))

    async def ack_dead(self, key: str, actor: str) -> None:
        """Atomically: acknowledge a dead document (it stays dead, leaves the DLQ count) and audit it."""
        now = self.clock()

        def op(tx: Tx) -> None:
            ops.set_flag(tx, key, now, "dead letter acknowledged", dead_acked=1)
            ops.audit(tx, "dlq ack", actor, {"key": key}, now, key)

        await self._write(op)


def _startup_chain_check(path: Path, busy_timeout_ms: int) -> ChainVerdict:
    """The cheap start-up walk of the audit chain (see :func:`kkt_adapter.buffer.chain_check.startup_check`)."""
    conn = connect(path, busy_timeout_ms, readonly=True)
    try:
        return startup_check(conn, path)
    finally:
        conn.close()
