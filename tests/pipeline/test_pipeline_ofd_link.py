"""The start-up OFD settings check against a real emulated KKT (pty): table 21 field 2 and table 19 are read
through the pipeline, a contradiction is one warning line, and the relay takes the KKT's OFD address."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from pipeline_rig import fast_driver, settings_for

from kkt_adapter.buffer.store import Store
from kkt_adapter.clock import utc_now
from kkt_adapter.config.settings import OfdSettings, SyncSettings
from kkt_adapter.daemon.ofd_link import check_ofd_link
from kkt_adapter.emulator.emulator import Emulator
from kkt_adapter.emulator.state import DeviceConfig
from kkt_adapter.pipeline.service import Pipeline
from kkt_adapter.sync.relay_service import RelayService


async def run_check(tmp_path: Path, config: DeviceConfig) -> RelayService:
    emu = Emulator(tmp_path / "kkt1.pty", tmp_path / "kkt1.json", config=config).start()
    settings = settings_for({"kkt1": emu.link_path}, tmp_path / "buffer.db")
    store = await Store.open(tmp_path / "buffer.db", min_free_bytes=0)
    pipeline = Pipeline(settings, store, utc_now, driver_factory=fast_driver)
    relay = await RelayService.start(store, OfdSettings(), SyncSettings())
    await pipeline.start()
    try:
        await check_ofd_link(settings, pipeline, relay, wait_s=20)
    finally:
        await relay.stop()
        await pipeline.stop()
        await store.close()
        emu.stop()
    return relay


def test_the_kkt_on_its_own_network_contradicts_relay_in_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Table 21 field 2 = 1 with ofd.mode = relay logs exactly one warning saying what to change."""
    caplog.set_level(logging.INFO, "kkt_adapter.daemon")
    asyncio.run(run_check(tmp_path, DeviceConfig(ofd_exchange_mode=1, ofd_server="f1test.taxcom.ru", ofd_port=7778)))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "table 21 field 2 = 1" in warnings[0]
    assert "set ofd.mode = device" in warnings[0]


def test_the_relay_takes_the_kkts_table_19_address_when_the_config_names_none(tmp_path: Path) -> None:
    """With [ofd] host/port unset, the relay sends where the KKT's table 19 says."""
    relay = asyncio.run(run_check(tmp_path, DeviceConfig(ofd_server="f1test.taxcom.ru", ofd_port=7778)))
    assert relay.endpoint.endpoint is not None
    assert (relay.endpoint.endpoint.host, relay.endpoint.endpoint.port) == ("f1test.taxcom.ru", 7778)
    assert relay.endpoint.source == "table 19"
