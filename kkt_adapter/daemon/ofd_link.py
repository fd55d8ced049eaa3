"""At start: read each KKT's own OFD settings, say in one line when they contradict ``ofd.mode``, and give the
relay the KKT's OFD address (table 19) when the configuration names none."""

from __future__ import annotations

import asyncio
import logging
import time

from kkt_adapter.config.settings import Settings
from kkt_adapter.ofd.modes import mode_conflict
from kkt_adapter.pipeline.commands import Action, DeviceUnavailable
from kkt_adapter.pipeline.service import Pipeline
from kkt_adapter.sync.relay_service import RelayService

log = logging.getLogger("kkt_adapter.daemon")


async def _read(pipeline: Pipeline, device_id: str, wait_s: float) -> dict[str, object] | None:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return await pipeline.command(device_id, Action.READ_OFD_LINK, "daemon", timeout_s=30.0)
        except DeviceUnavailable:
            if time.monotonic() >= deadline:
                log.warning("device %s: not connected; its OFD exchange settings were not checked", device_id)
                return None
            await asyncio.sleep(1.0)
        except Exception as exc:  # a refusal or a link error: the check is advice, never a reason to stop
            log.warning("device %s: its OFD exchange settings could not be read: %s", device_id, exc)
            return None


async def check_ofd_link(
    settings: Settings, pipeline: Pipeline, relay: RelayService | None, wait_s: float = 120.0
) -> None:
    """For every device: the mode check (one warning line on a contradiction) and, in relay mode without
    ``[ofd] host/port``, the KKT's table-19 address for the relay. Never raises."""
    mode = settings.ofd.mode.value
    for device in settings.devices:
        link = await _read(pipeline, device.id, wait_s)
        if link is None:
            continue
        exchange_mode = link.get("exchange_mode")
        line = mode_conflict(mode, exchange_mode if isinstance(exchange_mode, int) else None)
        if line is not None:
            log.warning("device %s: %s", device.id, line)
        else:
            log.info("device %s: the KKT's OFD exchange mode %s agrees with ofd.mode = %s", device.id,
                     exchange_mode, mode)  # fmt: skip
        host, port = link.get("host"), link.get("port")
        if relay is not None and isinstance(host, str) and isinstance(port, int):
            relay.use_device_address(host, port)
    if relay is not None and relay.endpoint.endpoint is None:
        log.warning(
            "ofd.mode = relay: no OFD address: set [ofd] host and port (the KKT's table 19 has none); "
            "documents wait in the FN meanwhile"
        )
