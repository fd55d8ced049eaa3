"""The outbox part of the buffer's async facade (mixed into :class:`~kkt_adapter.buffer.store.Store`).

The device worker calls :meth:`outbox_put` (after FF30/FF31), :meth:`outbox_answers_due`,
:meth:`outbox_mark_written` (which also stamps the receipt's ``ofd_confirmed_at``), :meth:`outbox_mark_refused` and
:meth:`ofd_confirm_below` (``ofd.mode = device``); the sync calls :meth:`outbox_claim`,
:meth:`outbox_record_answer`, :meth:`outbox_retry` and :meth:`outbox_dead`; operators list, replay and
acknowledge. Every write is atomic and appends its chained event (see :mod:`kkt_adapter.buffer.outbox`).
Delivery is at least once: a message may reach the OFD twice (a crash between the send and the commit of
its answer); an answer stored is written into the FN, never fetched again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TypeVar

from kkt_adapter.buffer import ofd_confirm, ops, outbox
from kkt_adapter.buffer.outbox import O, OutboxMessage, OutboxState
from kkt_adapter.buffer.records import ts
from kkt_adapter.buffer.writer import Tx

T = TypeVar("T")


class OutboxMethods:
    """Needs ``_write``, ``_read`` and ``clock`` from the class it is mixed into."""

    clock: Callable[[], datetime]

    async def _write(self, fn: Callable[[Tx], T], intake: bool = False) -> T:
        raise NotImplementedError

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    # --- the device worker -----------------------------------------------------------------------------

    async def outbox_put(self, device_id: str, fn_serial: str, fd_number: int, doc_type: int, message: bytes) -> bool:
        """Atomically store the FN's message as ``read``; idempotent: False when ``(fn_serial, fd_number)``
        is already stored (then nothing is written, whatever the bytes)."""
        return await self._write(
            partial(
                outbox.put,
                device_id=device_id,
                fn_serial=fn_serial,
                fd_number=fd_number,
                doc_type=doc_type,
                message=bytes(message),
                now=self.clock(),
            )
        )

    async def outbox_get(self, fn_serial: str, fd_number: int) -> OutboxMessage | None:
        return await self._read(partial(outbox.get, fn_serial=fn_serial, fd_number=fd_number))

    async def outbox_answers_due(self, device_id: str, fn_serial: str, limit: int) -> list[OutboxMessage]:
        """Answers stored and not yet written into FN ``fn_serial`` of ``device_id``, lowest FD first."""
        return await self._read(partial(outbox.answers_due, device_id=device_id, fn_serial=fn_serial, limit=limit))

    async def outbox_mark_written(self, fn_serial: str, fd_number: int, reason: str) -> bool:
        """Atomically: the FN holds the ticket (``written``, terminal) and the receipt that is this document,
        if any, gets ``ofd_confirmed_at`` (:func:`~kkt_adapter.buffer.ofd_confirm.confirm_document`), in one
        commit. Idempotent: False when already written (a receipt not stamped yet is stamped all the same).
        From ``read``/``dead``/``refused`` too: FF39 showed the FN no longer waits for it."""

        def op(tx: Tx) -> bool:
            found = outbox.get(tx.conn, fn_serial, fd_number)
            now = self.clock()
            confirmed = f"the OFD's ticket of FD {fd_number} is in the FN"
            ofd_confirm.confirm_document(tx, fn_serial, fd_number, now, confirmed)
            if found is not None and found.state is O.WRITTEN:
                return False
            outbox.move(
                tx, fn_serial, fd_number, O.WRITTEN, now, reason, "device", written_at=ts(now), lease_until=None
            )
            return True

        return await self._write(op)

    async def ofd_confirm_below(self, fn_serial: str, below_fd: int, reason: str) -> int:
        """Atomically: every receipt of FN ``fn_serial`` with an FD below ``below_fd`` and no ``ofd_confirmed_at``
        gets it, with one event naming the range (``ofd.mode = device``: from FF39); how many."""
        return await self._write(
            partial(ofd_confirm.confirm_below, fn_serial=fn_serial, below_fd=below_fd, now=self.clock(), reason=reason)
        )

    async def outbox_mark_refused(self, fn_serial: str, fd_number: int, code: int | None, reason: str) -> None:
        """Atomically: ``answered → refused`` with the FN's code and its meaning (an alarm; not retried)."""
        await self._write(
            lambda tx: outbox.move(
                tx,
                fn_serial,
                fd_number,
                O.REFUSED,
                self.clock(),
                reason,
                "device",
                refuse_code=code,
                refuse_reason=reason,
            )
        )

    # --- the sync --------------------------------------------------------------------------------------

    async def outbox_claim(
        self, limit: int, lease_s: float, now: datetime, max_wait_s: float = 3600.0
    ) -> list[OutboxMessage]:
        """Atomically lease up to ``limit`` due ``read`` messages, oldest first, until ``now + lease_s``.

        ``max_wait_s`` is the longest retry delay the caller ever sets: a retry time further ahead than
        that (a wall clock stepped back) counts as due, as does a lease further ahead than ``lease_s``."""
        return await self._write(partial(outbox.claim, limit=limit, lease_s=lease_s, max_wait_s=max_wait_s, now=now))

    async def outbox_record_answer(self, fn_serial: str, fd_number: int, answer: bytes, now: datetime) -> bool:
        """Atomically ``read → answered`` with the OFD's whole answer (lease released). Idempotent: False
        when the row already has an answer or is past it (the first answer stays, nothing is written)."""

        def op(tx: Tx) -> bool:
            found = outbox.get(tx.conn, fn_serial, fd_number)
            if found is not None and found.state is not O.READ:
                return False
            outbox.move(
                tx,
                fn_serial,
                fd_number,
                O.ANSWERED,
                now,
                "OFD answer stored",
                "sync",
                answer=bytes(answer),
                answered_at=ts(now),
                lease_until=None,
                next_attempt_at=None,
                attempts=_attempts(tx, fn_serial, fd_number) + 1,
            )
            return True

        return await self._write(op)

    async def outbox_retry(
        self, fn_serial: str, fd_number: int, next_attempt_at: datetime, error: str, now: datetime
    ) -> None:
        """Atomically count a failed attempt of a ``read`` message, set its retry time, release the lease."""
        await self._write(
            lambda tx: outbox.note(
                tx,
                fn_serial,
                fd_number,
                now,
                f"OFD attempt failed: {error}",
                attempts=_attempts(tx, fn_serial, fd_number) + 1,
                next_attempt_at=ts(next_attempt_at),
                lease_until=None,
                last_error=error,
            )
        )

    async def outbox_dead(
        self, fn_serial: str, fd_number: int, reason: str, now: datetime, answer: bytes | None = None
    ) -> None:
        """Atomically ``read → dead`` (the DLQ) with the reason and the offending answer, if any."""
        await self._write(
            lambda tx: outbox.move(
                tx,
                fn_serial,
                fd_number,
                O.DEAD,
                now,
                reason,
                "sync",
                dead_reason=reason,
                last_error=reason,
                answer=None if answer is None else bytes(answer),
                attempts=_attempts(tx, fn_serial, fd_number) + 1,
                lease_until=None,
                dead_acked=0,
            )
        )

    async def outbox_next_due(self) -> datetime | None:
        return await self._read(outbox.next_due)

    # --- operators and health --------------------------------------------------------------------------

    async def outbox_list(self, state: OutboxState, limit: int = 100, offset: int = 0) -> list[OutboxMessage]:
        return await self._read(partial(outbox.of_state, state=state, limit=limit, offset=offset))

    async def outbox_open_dead(self) -> int:
        """Dead or refused messages not acknowledged by an operator."""
        return await self._read(outbox.open_dead)

    async def outbox_counts(self) -> dict[str, int]:
        return await self._read(outbox.counts)

    async def outbox_replay(self, fn_serial: str, fd_number: int, actor: str) -> None:
        """Atomically ``dead``/``refused`` → ``read``: sent to the OFD again for a fresh answer; audited."""

        def op(tx: Tx) -> None:
            now = self.clock()
            outbox.move(
                tx,
                fn_serial,
                fd_number,
                O.READ,
                now,
                "replayed by an operator",
                actor,
                answer=None,
                attempts=0,
                next_attempt_at=None,
                lease_until=None,
                dead_acked=0,
            )
            _audit(tx, "outbox replay", actor, fn_serial, fd_number, now)

        await self._write(op)

    async def outbox_ack_dead(self, fn_serial: str, fd_number: int, actor: str) -> None:
        """Acknowledge a dead message (it stays dead, leaves the DLQ alarm); audited."""

        def op(tx: Tx) -> None:
            now = self.clock()
            outbox.note(tx, fn_serial, fd_number, now, "dead letter acknowledged", dead_acked=1)
            _audit(tx, "outbox ack", actor, fn_serial, fd_number, now)

        await self._write(op)


def _attempts(tx: Tx, fn_serial: str, fd_number: int) -> int:
    row = tx.conn.execute(
        "SELECT attempts FROM outbox WHERE fn_serial = ? AND fd_number = ?", (fn_serial, fd_number)
    ).fetchone()
    return int(row[0]) if row else 0


def _audit(tx: Tx, action: str, actor: str, fn_serial: str, fd_number: int, now: datetime) -> None:
    """An operator's action on one outbox row, in the chained log under the row's key."""
    detail = {"fn_serial": fn_serial, "fd_number": fd_number}
    ops.audit(tx, action, actor, detail, now, outbox.event_key(fn_serial, fd_number))
