"""Operator actions on a device (shift open/close, X report, continue printing), queued to its worker.

An action runs on the device's worker between receipts, never concurrently with one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    """What an operator may ask a device to do (the admin routes' path segment)."""

    OPEN_SHIFT = "open-shift"
    CLOSE_SHIFT = "close-shift"
    X_REPORT = "x-report"
    CONTINUE_PRINT = "continue-print"


class DeviceUnavailable(Exception):
    """The device is not connected (or its worker is stopping): the action was not queued."""


@dataclass
class Command:
    """One queued action and the future its caller waits on (result: a JSON-ready dict)."""

    action: Action
    actor: str
    future: asyncio.Future[dict[str, Any]] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
