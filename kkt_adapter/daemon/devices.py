"""Which driver serves a configured device: the one place that names a device family.

The pipeline gets a :data:`~kkt_adapter.pipeline.service.DriverFactory` and sees only
:class:`~kkt_adapter.kkt.device.KktDevice`; a second family (ATOL) adds its driver here.
"""

from __future__ import annotations

from kkt_adapter.config.settings import DeviceSettings
from kkt_adapter.kkt.device import KktDevice
from kkt_adapter.kkt.driver import ShtrihDriver
from kkt_adapter.kkt.link_config import LinkPolicy


def link_policy(answer_timeout_s: float) -> LinkPolicy:
    """The link policy for a device whose slowest command answers within ``answer_timeout_s``."""
    base = LinkPolicy()
    return LinkPolicy(
        answer_default_s=min(base.answer_default_s, answer_timeout_s),
        answer_timeouts_s={code: min(s, answer_timeout_s) for code, s in base.answer_timeouts_s.items()},
    )


def shtrih_driver(device: DeviceSettings) -> KktDevice:
    """The Shtrih-M driver for a configured device (the daemon's driver factory)."""
    return ShtrihDriver(
        device.port,
        device.baudrate,
        password_cashier=device.cashier_password,
        password_admin=device.admin_password,
        policy=link_policy(device.answer_timeout_s),
    )
