"""Pure conversion of a :class:`Health` and its :class:`Snapshot` to the JSON of ``GET /v1/health``."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any

from kkt_adapter.ops.checks_store import unsent_age_s, unsent_count
from kkt_adapter.ops.health import Health, can_accept_receipts
from kkt_adapter.ops.problem import DEFAULT_LIMITS, Limits
from kkt_adapter.ops.snapshot import Snapshot
from kkt_adapter.ops.wording import days, labels_ru


def plain(value: object) -> Any:
    """``value`` as JSON-ready data: dataclasses to dicts, datetimes/dates to ISO strings, enums to values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value if not isinstance(value.value, int) else value.name.lower()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _numbers(snap: Snapshot, now: datetime, limits: Limits) -> dict[str, Any]:
    age_s = unsent_age_s(snap, now)
    age_days = None if age_s is None else age_s / 86400
    devices = {}
    for dev in snap.devices:
        opened = dev.shift_opened_at if dev.shift_open else None
        expires = None if dev.fn is None or dev.fn.expires_on is None else dev.fn.expires_on
        device_now = dev.now_of(now)
        devices[dev.device_id] = {
            "shift_age_h": None if opened is None else round(max(0.0, (device_now - opened).total_seconds()) / 3600, 2),
            "fn_days_left": None if expires is None else (expires - device_now.date()).days,
            "fn_days_left_ru": None if expires is None else days((expires - device_now.date()).days),
            "device_time": None if dev.device_now is None else dev.device_now.isoformat(timespec="seconds"),
            "clock_offset_s": None if dev.clock_offset_s is None else round(dev.clock_offset_s, 1),
        }
    return {
        "unsent": unsent_count(snap),
        "oldest_unsent_age_days": None if age_days is None else round(age_days, 2),
        "days_to_ofd_block": None if age_days is None else max(0, math.ceil(limits.ofd_block_days - age_days)),
        "devices": devices,
    }


def health_json(health: Health, snap: Snapshot, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """The body of ``GET /v1/health``: verdict, readiness, problems (with sentences), numbers, snapshot."""
    ready, reason = can_accept_receipts(health)
    problems = [{**plain(p), "sentence_ru": p.sentence_ru} for p in health.problems]
    return {
        "verdict": health.verdict.value,
        "checked_at": health.checked_at.isoformat(),
        "ready": ready,
        "ready_reason": reason,
        "problems": problems,
        "numbers": _numbers(snap, health.checked_at, limits),
        "snapshot": plain(snap),
        "labels_ru": labels_ru(),
    }
