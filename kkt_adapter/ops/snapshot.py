"""What the health model looks at: an immutable snapshot of the daemon's cached state.

The daemon's wiring builds a :class:`Snapshot` from the buffer's counters and the device and sync
workers' caches; it never asks a serial port for it. Every datetime in a snapshot is timezone-aware
(a naive one raises ``ValueError`` at construction, because an age computed from it would be wrong by
the UTC offset). Worker heartbeats are monotonic readings (``time.monotonic()``) compared with
``Snapshot.taken_mono``, or aware datetimes compared with ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from kkt_adapter.kkt.types import Mode, SubMode


def _require_aware(owner: object, *values: datetime | None) -> None:
    for value in values:
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"{type(owner).__name__}: naive datetime {value.isoformat()}; use an aware one")


class BreakerState(StrEnum):
    """The OFD circuit breaker's state; ``gauge`` is its value in the metrics (0/1/2)."""

    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"

    @property
    def gauge(self) -> int:
        return {"closed": 0, "half_open": 1, "open": 2}[self.value]

    @classmethod
    def _missing_(cls, value: object) -> BreakerState | None:
        """Accept pybreaker's spelling, ``half-open``, too."""
        return cls.HALF_OPEN if value == "half-open" else None


@dataclass(frozen=True)
class BufferSnapshot:
    """The receipt buffer: counts by state (keys are the buffer's state names), ages, capacity, disk.

    ``oldest_unfiscalized_at``: accepted time of the oldest receipt in ``accepted``/``printing``/``unknown``.
    ``oldest_undelivered_at``: fiscal time of the oldest ``fiscalized``/``dead`` receipt, i.e. not delivered by the
    optional HQ export (not the OFD's backlog: that is the FN's own queue, FF39, in the devices).
    ``capacity_used``/``capacity_limit``: receipts held against the configured limit (same unit).
    """

    counts_by_state: Mapping[str, int] = field(default_factory=dict)
    oldest_unfiscalized_at: datetime | None = None
    oldest_undelivered_at: datetime | None = None
    capacity_used: int = 0
    capacity_limit: int = 1_000_000
    dlq_size: int = 0
    disk_free_bytes: int = 10**10
    writable: bool = True
    last_write_error: str | None = None
    chain_head_seq: int = 0
    chain_problem: str | None = None
    orphans: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require_aware(self, self.oldest_unfiscalized_at, self.oldest_undelivered_at)

    def count(self, state: str) -> int:
        """Receipts in ``state`` (0 when the state is absent)."""
        return self.counts_by_state.get(state, 0)


@dataclass(frozen=True)
class FnSnapshot:
    """The fiscal storage (FN) of one device, as last read (FF01, FF03, FF39).

    ``warning_bits``: FF01 ``warn`` (b0 crypto ≤ 3 days, b1 crypto ≤ 30 days, b2 archive 90 % full,
    b3 OFD answer timeout). ``blocked``: the FN refuses fiscal signs (errors 0x14/0x15, phase, …).
    """

    serial: str
    expires_on: date | None = None
    warning_bits: int = 0
    unsent_count: int = 0
    oldest_unsent_at: datetime | None = None
    blocked: bool = False

    def __post_init__(self) -> None:
        _require_aware(self, self.oldest_unsent_at)


@dataclass(frozen=True)
class DeviceSnapshot:
    """One KKT as its worker last saw it; ``None`` fields are not known yet (never polled).

    ``queue_halted``: the worker stopped the queue because a receipt's outcome is unknown and it is
    reconciling with the FN. ``heartbeat_age_s``: seconds since the worker's last successful poll.
    ``device_now``: the device's own time when the snapshot was taken (None: its clock was never read;
    the host's time stands in). ``shift_opened_at`` and the FN's times are device times, so every legal
    clock (shift age, 30-day backlog, FN expiry) is measured against ``device_now`` (:meth:`now_of`).
    ``clock_offset_s``: device clock minus host clock at the last reading.
    """

    device_id: str
    connected: bool
    mode: Mode | None = None
    sub_mode: SubMode | None = None
    paper_present: bool | None = None
    cover_open: bool | None = None
    shift_open: bool | None = None
    shift_opened_at: datetime | None = None
    open_document: bool = False
    last_error: str | None = None
    last_error_code: int | None = None
    queue_halted: bool = False
    halt_reason: str | None = None  # the automatic resolution gave up: an operator must decide
    parked: tuple[tuple[str, str], ...] = ()  # (receipt key, old FN serial): printing when the FN was replaced
    heartbeat_age_s: float | None = None
    fn: FnSnapshot | None = None
    device_now: datetime | None = None
    clock_offset_s: float | None = None

    def __post_init__(self) -> None:
        _require_aware(self, self.shift_opened_at, self.device_now)

    def now_of(self, host_now: datetime) -> datetime:
        """The device's time for a check made at host time ``host_now`` (the host's when never read)."""
        return host_now if self.device_now is None else self.device_now


@dataclass(frozen=True)
class OfdSnapshot:
    """The OFD relay (``ofd.mode = relay``): breaker, last ticket, failures in a row, pause, lag; ``auth_refused``
    is the optional HQ export's (the OFD takes no token)."""

    breaker: BreakerState = BreakerState.CLOSED
    last_success_at: datetime | None = None
    consecutive_failures: int = 0
    sync_paused: bool = False
    sync_lag_s: float | None = None
    mode: str = "relay"  # ofd.mode: relay (the daemon relays), device (the KKT itself), off
    auth_refused: str | None = None  # the HQ export's token was refused: the export waits until it is fixed
    dead_messages: int = 0  # relay messages dead-lettered or refused by the FN, not acknowledged

    def __post_init__(self) -> None:
        _require_aware(self, self.last_success_at)


@dataclass(frozen=True)
class Snapshot:
    """Everything the health model needs, taken at ``taken_at`` (aware) / ``taken_mono`` (monotonic).

    ``workers`` maps a worker's name to its last heartbeat: a ``float`` from ``time.monotonic()`` or an
    aware ``datetime``.
    """

    taken_at: datetime
    taken_mono: float
    buffer: BufferSnapshot = field(default_factory=BufferSnapshot)
    devices: tuple[DeviceSnapshot, ...] = ()
    ofd: OfdSnapshot = field(default_factory=OfdSnapshot)
    workers: Mapping[str, float | datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        beats = [beat for beat in self.workers.values() if isinstance(beat, datetime)]
        _require_aware(self, self.taken_at, *beats)
