"""The intake's groups opened on the event loop, committed on a thread of their own.

Each SQLite call made by the writer thread hands the GIL over to the event loop and waits to get it back,
and the thread must be woken for every group and wake the loop again: under 16 concurrent POS clients that
handing over cost more than the inserts (``docs/benchmarks.md``). So the new receipts that arrive within one
turn of the event loop are inserted on the loop itself, in one transaction (``ops.insert_receipts``, as the
writer would run them), when the writer is idle; only the COMMIT, which waits for the disk, runs on the
committing thread, and each caller is told after it returned, as on the writer's own way
(:meth:`~kkt_adapter.buffer.writer.Writer.begin_inline`). Receipts that arrive while that COMMIT runs form
the next group.

Whenever the writer is busy (a device's write, a group of its queue), another process holds the
database's write lock, the disk is low or anything goes wrong before the COMMIT, nothing was written and
the receipts go through the writer's queue, whose rules (isolation of a failing operation, the refusals of
a low disk, the group's wait) decide as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kkt_adapter.buffer import ops
from kkt_adapter.buffer.errors import StorageUnavailable, StoreError
from kkt_adapter.buffer.records import StoredReceipt
from kkt_adapter.buffer.writer import Tx, Writer

Outcome = tuple[StoredReceipt, bool]
_THROUGH_QUEUE = object()  # a waiter's answer: take the writer's queue


class InlineIntake:
    """New receipts of one event loop turn stored together on the loop (see the module docstring)."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer
        self._waiting: list[tuple[ops.NewReceipt, asyncio.Future[Any]]] = []
        self._committing = False
        self._closed = False
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="buffer-commit")

    async def insert(self, new: ops.NewReceipt) -> Outcome:
        """``ops.insert_receipt`` of ``new``, committed: resolves after the commit (or with its error)."""
        if self._closed:
            return await self._writer.run_each(ops.insert_receipts, new, intake=True)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        if not self._waiting and not self._committing:
            loop.call_soon(self._flush, loop)
        self._waiting.append((new, waiter))
        answer = await waiter
        if answer is _THROUGH_QUEUE:
            return await self._writer.run_each(ops.insert_receipts, new, intake=True)
        outcome: Outcome = answer
        return outcome

    async def close(self) -> None:
        """Take no more groups; wait for the COMMIT in progress."""
        self._closed = True
        await asyncio.to_thread(self._committer.shutdown, wait=True)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        group = [(new, waiter) for new, waiter in self._waiting if not waiter.done()]  # a cancelled caller is dropped
        self._waiting = []
        if not group:
            return
        opened = None if self._closed else self._writer.begin_inline(ops.insert_receipts, [new for new, _ in group])
        if opened is None:
            for _, waiter in group:
                waiter.set_result(_THROUGH_QUEUE)
            return
        tx, outcomes = opened
        self._committing = True
        self._committer.submit(self._commit, loop, tx, group, outcomes)

    def _commit(
        self, loop: asyncio.AbstractEventLoop, tx: Tx, group: list[tuple[ops.NewReceipt, asyncio.Future[Any]]],
        outcomes: list[Outcome | StoreError],
    ) -> None:  # fmt: skip
        """On the committing thread: COMMIT, then tell the callers (on their loop), then the listeners."""
        try:
            error = self._writer.commit_inline(tx)
        except Exception as exc:  # the callers must hear something; a replay finds what was stored
            error = StorageUnavailable(f"the commit failed ({exc}): the receipt may not be saved; post it again")
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody awaits any more
            loop.call_soon_threadsafe(self._settle, loop, group, outcomes, error)
        if error is None:
            self._writer.committed(tx.changed)

    def _settle(
        self, loop: asyncio.AbstractEventLoop, group: list[tuple[ops.NewReceipt, asyncio.Future[Any]]],
        outcomes: list[Outcome | StoreError], error: StorageUnavailable | None,
    ) -> None:  # fmt: skip
        self._committing = False
        for (_, waiter), outcome in zip(group, outcomes, strict=True):
            if waiter.done():  # cancelled after its group began: stored all the same, a replay will tell
                continue
            if error is not None:
                waiter.set_exception(error)
            elif isinstance(outcome, StoreError):
                waiter.set_exception(outcome)
            else:
                waiter.set_result(outcome)
        if self._waiting:
            self._flush(loop)
