"""Stateful property test: random intake, lifecycle moves and restarts against a dict model of the buffer.

Every move is tried on any key, legal or not: the store must apply exactly the legal ones, raise
IllegalTransition (or NotFound) for the rest without changing anything, survive restarts (close and
reopen the Store on the same file) and keep a verifying event chain.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from buffer_support import NOW, fiscal, receipt
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from kkt_adapter.buffer.errors import BufferFull, IdempotencyConflict, IllegalTransition, NotFound
from kkt_adapter.buffer.events import verify_chain
from kkt_adapter.buffer.states import ALLOWED, PENDING, ReceiptState
from kkt_adapter.buffer.store import Store
from kkt_adapter.receipts.model import TaxSystem

S = ReceiptState
CAPACITY = 4
KEYS = st.sampled_from([f"k{n}" for n in range(7)])

# move name → (target state, the call on the store)
Move = Callable[[Store, str, int], Awaitable[Any]]
MOVES: dict[str, tuple[ReceiptState, Move]] = {
    "print": (S.PRINTING, lambda s, k, fd: s.begin_printing(k, last_fd=fd)),
    "fiscalize": (S.FISCALIZED, lambda s, k, fd: s.mark_fiscalized(k, fiscal(fd), False, "printed")),
    "lose_track": (S.UNKNOWN, lambda s, k, fd: s.mark_unknown(k, "timeout")),
    "retry": (S.ACCEPTED, lambda s, k, fd: s.back_to_accepted(k, "not in the FN")),
    "reject": (S.REJECTED, lambda s, k, fd: s.mark_rejected(k, 0x7E, "bad content")),
    "deliver": (S.DELIVERED, lambda s, k, fd: s.mark_delivered(k, f"t-{k}", NOW)),
    "kill": (S.DEAD, lambda s, k, fd: s.mark_dead(k, "permanent", None, NOW)),
    "replay": (S.FISCALIZED, lambda s, k, fd: s.replay_dead(k, "admin")),
}


class BufferMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="buffer-sm-"))
        self.path = self.dir / "b.db"
        self.loop = asyncio.new_event_loop()
        self.store = self.run(Store.open(self.path, capacity=CAPACITY, clock=lambda: NOW))
        self.model: dict[str, tuple[ReceiptState, int]] = {}  # key → (state, body variant)
        self.fd = 0

    def run(self, awaitable: Awaitable[Any]) -> Any:
        async def wrap() -> Any:
            return await awaitable

        return self.loop.run_until_complete(wrap())

    def teardown(self) -> None:
        self.run(self.store.close())
        self.loop.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def pending(self) -> int:
        return sum(1 for state, _ in self.model.values() if state in PENDING)

    @rule(key=KEYS, variant=st.integers(0, 1))
    def insert(self, key: str, variant: int) -> None:
        """New key → accepted (or BufferFull at capacity); same body → the same; other body → conflict."""
        try:
            stored, created = self.run(self.store.insert_receipt(key, receipt(variant), "kkt1", TaxSystem.OSN))
        except IdempotencyConflict:
            assert key in self.model
            assert self.model[key][1] != variant
            return
        except BufferFull:
            assert key not in self.model
            assert self.pending() >= CAPACITY
            return
        if key in self.model:
            assert not created
            assert self.model[key] == (stored.state, variant)
        else:
            assert created
            assert stored.state is S.ACCEPTED
            assert self.pending() < CAPACITY
            self.model[key] = (S.ACCEPTED, variant)

    @rule(key=KEYS, move=st.sampled_from(sorted(MOVES)))
    def move(self, key: str, move: str) -> None:
        """A lifecycle move is applied iff the model says it is legal; otherwise it raises and changes nothing."""
        target, call = MOVES[move]
        self.fd += 1
        current = self.model.get(key)
        legal = current is not None and target in ALLOWED[current[0]]
        if move == "replay":
            legal = current is not None and current[0] is S.DEAD
        if move == "deliver" and current is not None and current[0] is S.DELIVERED:
            legal = True  # delivery is idempotent
        try:
            self.run(call(self.store, key, self.fd))
        except NotFound:
            assert current is None
            return
        except IllegalTransition:
            assert current is not None
            assert not legal
            return
        assert legal, f"{move} of {key} in {current} should have raised"
        assert current is not None
        self.model[key] = (target, current[1])

    @rule()
    def restart(self) -> None:
        """Close and reopen the store on the same file: nothing acknowledged is lost."""
        self.run(self.store.close())
        self.store = self.run(Store.open(self.path, capacity=CAPACITY, clock=lambda: NOW))

    @invariant()
    def store_matches_model(self) -> None:
        rows = self.run(self.store.listing(None, 0, 100))
        assert {r.key: r.state for r in rows} == {k: state for k, (state, _) in self.model.items()}
        assert self.store.pending == self.pending()

    @invariant()
    def chain_verifies(self) -> None:
        conn = sqlite3.connect(self.path)
        try:
            assert verify_chain(conn).ok
        finally:
            conn.close()


BufferMachine.TestCase.settings = settings(
    max_examples=30, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestBufferLifecycle = BufferMachine.TestCase
