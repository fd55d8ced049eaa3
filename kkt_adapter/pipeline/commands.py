"""Operator actions on a device (shift open/close, X report, continue printing, read the FN archive),
queued to its worker.

An action runs on the device's worker between receipts, never concurrently with one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kkt_adapter.errors import AdapterError


class Action(StrEnum):
    """What an operator may ask a device to do (the admin routes' path segment)."""

    OPEN_SHIFT = "open-shift"
    CLOSE_SHIFT = "close-shift"
    X_REPORT = "x-report"
    CONTINUE_PRINT = "continue-print"
    READ_DOCUMENTS = "read-documents"  # params: from_fd, to_fd (at most MAX_READ_DOCUMENTS)
    SET_CLOCK = "set-clock"  # the device's clock from the host's; only with the shift closed
    READ_OFD_LINK = "read-ofd-link"  # the KKT's OFD exchange mode and address (read only)
    RESOLVE_EVIDENCE = "resolve-evidence"  # what an operator needs to decide an unresolved receipt (read only)
    RESOLVE = "resolve"  # params: seq, fd_number (0: not printed) — the operator's decision


MAX_READ_DOCUMENTS = 5000
SCHEDULER = "scheduler"  # the actor of the ``shift.close_at`` job's commands


class DeviceUnavailable(AdapterError):
    """The device is not connected (or its worker is stopping): the action was not queued."""


class ActionRefused(AdapterError):
    """The action is not allowed in the device's present state; the message says why and what to do first.
    Nothing was sent to the device that changes it."""


@dataclass
class Command:
    """One queued action, its integer parameters, and the future its caller waits on (result: a JSON-ready dict)."""

    action: Action
    actor: str
    params: dict[str, int] = field(default_factory=dict)
    future: asyncio.Future[dict[str, Any]] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
