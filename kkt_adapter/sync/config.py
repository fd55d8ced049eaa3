"""The sync worker's knobs; field names match the ``sync`` settings section."""

from __future__ import annotations

from dataclasses import dataclass, fields

from kkt_adapter.config.settings import SyncSettings


@dataclass(frozen=True)
class SyncConfig:
    """How hard and how patiently to drain (defaults as in ``config/settings.py``)."""

    concurrency: int = 32
    batch: int = 256
    lease_s: float = 60.0
    fail_max: int = 5
    reset_timeout_s: float = 60.0
    success_threshold: int = 2
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 600.0
    max_attempts: int = 1000

    @classmethod
    def from_settings(cls, section: SyncSettings) -> SyncConfig:
        """Copy the same-named fields of ``Settings.sync``."""
        return cls(**{f.name: getattr(section, f.name) for f in fields(cls)})
