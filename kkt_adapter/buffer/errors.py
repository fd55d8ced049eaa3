"""Errors of the buffer.

::

    BufferError
    ├── StorageUnavailable     disk full, read-only, I/O error: nothing was written; retry later (503)
    ├── BufferFull             the configured capacity is reached; retry later (503)
    ├── IdempotencyConflict    the key exists with another body (409)
    ├── NotFound               no receipt with that key
    ├── IllegalTransition      a state change the lifecycle does not allow (a bug: never applied)
    └── DatabaseRefused        the file is corrupt, foreign, or of a newer schema: refuse to start
"""

from __future__ import annotations


class BufferError(Exception):
    """Root of the buffer's errors."""


class StorageUnavailable(BufferError):
    """The database cannot be written now (disk full, read-only, I/O error)."""


class BufferFull(BufferError):
    """The capacity limit is reached."""

    def __init__(self, pending: int, capacity: int) -> None:
        super().__init__(f"buffer full: {pending} receipts pending, capacity {capacity}")
        self.pending = pending
        self.capacity = capacity


class IdempotencyConflict(BufferError):
    """The idempotency key is already used by a receipt with a different body."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} is already used by a different receipt")
        self.key = key


class NotFound(BufferError):
    """No receipt with that key."""


class IllegalTransition(BufferError):
    """A state change that the lifecycle does not allow."""

    def __init__(self, key: str, old: str, new: str) -> None:
        super().__init__(f"receipt {key!r}: illegal transition {old} → {new}")
        self.key = key
        self.old = old
        self.new = new


class DatabaseRefused(BufferError):
    """The database file is corrupt, belongs to something else, or has a newer schema."""
