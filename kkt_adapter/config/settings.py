"""All settings of the daemon, validated by pydantic: the TOML file, then ``KKT_ADAPTER_…`` environment overrides.

Nested keys use ``__`` in the environment: ``KKT_ADAPTER_API__PORT=8711`` overrides ``[api] port``.
Secrets (the POS and admin tokens, the export token) are never settings values: they come from a file
named here (``*_token_file``) or from the environment (see :mod:`kkt_adapter.config.secrets`).
"""

from __future__ import annotations

from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kkt_adapter.receipts.model import TaxSystem

DEFAULT_PORT = 8710


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = DEFAULT_PORT
    pos_token_file: Path | None = None
    admin_token_file: Path | None = None
    max_body_bytes: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = 256 * 1024
    max_items: Annotated[int, Field(ge=1, le=1000)] = 200
    wait_default_s: Annotated[float, Field(ge=0, le=120)] = 0.0
    wait_max_s: Annotated[float, Field(ge=0, le=600)] = 60.0
    # Names the Host header may carry (DNS-rebinding guard); the bind address is added when concrete.
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1", "[::1]")
    # A device whose unresolved receipt waits for an operator this long refuses new receipts (503).
    refuse_when_halted_s: Annotated[float, Field(ge=0)] = 900.0


class BufferSettings(_Section):
    path: Path = Path("data/kkt-adapter.db")
    capacity: Annotated[int, Field(ge=10)] = 500_000
    busy_timeout_ms: Annotated[int, Field(ge=100, le=60_000)] = 5_000
    min_free_bytes: Annotated[int, Field(ge=0)] = 20 * 1024 * 1024
    group_commit_max: Annotated[int, Field(ge=1, le=10_000)] = 256


class DeviceSettings(_Section):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
    port: str
    baudrate: Annotated[int, Field(ge=2400, le=921600)] = 115200
    cashier_password: Annotated[int, Field(ge=0)] = 1
    admin_password: Annotated[int, Field(ge=0)] = 30
    tax_system: TaxSystem = TaxSystem.OSN
    cashier_name: Annotated[str, Field(max_length=64)] = "Кассир"
    cashier_inn: str | None = None
    answer_timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0


class ShiftSettings(_Section):
    auto_open: bool = True
    close_at: time | None = None
    close_before_limit_min: Annotated[int, Field(ge=1, le=600)] = 15


class OfdMode(StrEnum):
    """Who talks to the OFD: the host relays the FN's messages, the KKT itself, or nobody."""

    RELAY = "relay"
    DEVICE = "device"
    OFF = "off"


_MOVED_TO_EXPORT = ("base_url", "token_file")


class OfdSettings(_Section):
    """The real OFD (FNS transport protocol over TCP). ``host``/``port`` unset in ``relay`` mode: read
    from the KKT's table 19 ("Параметры ОФД") at start."""

    mode: OfdMode = OfdMode.RELAY
    host: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    connect_timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    read_timeout_s: Annotated[float, Field(gt=0, le=600)] = 60.0
    fix_p_version_0102: bool = False

    @model_validator(mode="before")
    @classmethod
    def _json_endpoint_moved(cls, data: Any) -> Any:
        if isinstance(data, dict):
            moved = [key for key in _MOVED_TO_EXPORT if key in data]
            if moved:
                keys = ", ".join(f"ofd.{key}" for key in moved)
                raise ValueError(
                    f"{keys}: the JSON endpoint is not the OFD; it is the optional HQ export now: move "
                    f"{', '.join(moved)} to [export] and set export.enabled = true. [ofd] sets the real OFD: "
                    "mode (relay|device|off), host, port"
                )
        return data


class ExportSettings(_Section):
    """The optional export of receipts to an HQ/accounting endpoint (the JSON contract, docs/export-api.md)."""

    enabled: bool = False
    base_url: str = "http://127.0.0.1:8720"
    token_file: Path | None = None
    connect_timeout_s: Annotated[float, Field(gt=0, le=60)] = 3.0
    read_timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0


class SyncSettings(_Section):
    enabled: bool = True
    concurrency: Annotated[int, Field(ge=1, le=256)] = 32
    batch: Annotated[int, Field(ge=1, le=10_000)] = 256
    lease_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    fail_max: Annotated[int, Field(ge=1, le=1000)] = 5
    reset_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    success_threshold: Annotated[int, Field(ge=1, le=100)] = 2
    backoff_base_s: Annotated[float, Field(gt=0, le=3600)] = 2.0
    backoff_cap_s: Annotated[float, Field(gt=0, le=86_400)] = 600.0
    max_attempts: Annotated[int, Field(ge=1, le=100_000)] = 1000


class OpsSettings(_Section):
    fn_watch_interval_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    clock_skew_max_s: Annotated[float, Field(gt=0, le=86400)] = 300.0
    watchdog_stale_s: Annotated[float, Field(ge=5, le=3600)] = 60.0
    backup_dir: Path = Path("data/backups")
    backup_at: time | None = time(3, 30)
    timezone: str = "Europe/Moscow"


class Settings(_Section):
    """The whole configuration; every field has a working default for a demo on one box."""

    api: ApiSettings = ApiSettings()
    buffer: BufferSettings = BufferSettings()
    devices: list[DeviceSettings] = Field(
        default_factory=lambda: [DeviceSettings(id="kkt1", port="run/kkt1")], min_length=1
    )
    default_device: str | None = None
    shift: ShiftSettings = ShiftSettings()
    ofd: OfdSettings = OfdSettings()
    export: ExportSettings = ExportSettings()
    sync: SyncSettings = SyncSettings()
    ops: OpsSettings = OpsSettings()

    @model_validator(mode="after")
    def _devices_consistent(self) -> Settings:
        ids = [device.id for device in self.devices]
        if len(set(ids)) != len(ids):
            raise ValueError("devices: ids must be unique")
        if self.default_device is not None and self.default_device not in ids:
            raise ValueError(f"default_device: {self.default_device!r} is not a configured device id")
        return self

    @property
    def default_device_id(self) -> str:
        return self.default_device or self.devices[0].id

    def device(self, device_id: str) -> DeviceSettings | None:
        return next((d for d in self.devices if d.id == device_id), None)
