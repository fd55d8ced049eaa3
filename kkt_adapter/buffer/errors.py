"""Errors of the buffer.

::

    StoreError
    ├── StorageUnavailable     disk full, read-only, I/O error: nothing was written; retry later (503)
    ├── BufferFull             the configured capacity is reached; retry later (503)
    ├── IdempotencyConflict    the key exists with another body (409)
    ├── NotFound               no receipt with that key
    ├── IllegalTransition      a state change the lifecycle does not allow (a bug: never applied)
    ├── DocumentTaken          the FN document (fn_serial, fd_number) already belongs to another receipt
    └── DatabaseRefused        the file is corrupt, foreign, or of a newer schema: refuse to start
"""

from __future__ import annotations

from kkt_adapter.errors import AdapterError


class StoreError(AdapterError):
    """Root of the buffer's errors."""


class StorageUnavailable(StoreError):
    """The database cannot be written now (disk full, read-only, I/O error)."""


class BufferFull(StoreError):
    """The capacity limit is reached."""

    def __init__(self, pending: int, capacity: int) -> None:
        super().__init__(f"buffer full: {pending} receipts pending, capacity {capacity}")
        self.pending = pending
        self.capacity = capacity


class IdempotencyConflict(StoreError):
    """The idempotency key is already used by a receipt with a different body."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} is already used by a different receipt")
        self.key = key


class NotFound(StoreError):
    """No receipt with that key."""


class IllegalTransition(StoreError):
    """A state change that the lifecycle does not allow."""

    def __init__(self, key: str, old: str, new: str) -> None:
        super().__init__(f"receipt {key!r}: illegal transition {old} → {new}")
        self.key = key
        self.old = old
        self.new = new


class DocumentTaken(StoreError):
    """The FN document is already recorded for another receipt: nothing was written; decide by hand."""

    def __init__(self, key: str, fn_serial: object, fd_number: object) -> None:
        super().__init__(f"receipt {key!r}: FN {fn_serial} document {fd_number} already belongs to another receipt")
        self.key = key


class DatabaseRefused(StoreError):
    """The database file is corrupt, belongs to something else, or has a newer schema."""
