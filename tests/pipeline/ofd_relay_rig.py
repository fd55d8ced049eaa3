"""The whole relay in one process for the OFD proofs: emulator on a pty, Store, pipeline, relay loop, and the
OFD simulator over real TCP (a subprocess)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from chain_verdict import chain_ok
from pipeline_rig import Rig, close_rig, open_rig

from kkt_adapter.config.settings import OfdSettings, SyncSettings
from kkt_adapter.daemon.health_feed import HealthFeed
from kkt_adapter.emulator.emulator import Emulator
from kkt_adapter.ofd.sim.control import RunningSim
from kkt_adapter.ops.snapshot_cache import SnapshotCache
from kkt_adapter.sync.relay_service import RelayService

DEVICE = "kkt1"
FAST_SYNC = SyncSettings(
    fail_max=2, reset_timeout_s=0.3, success_threshold=1, backoff_base_s=0.05, backoff_cap_s=0.3, lease_s=30.0
)


__all__ = ["DEVICE", "FAST_SYNC", "RelayRig", "chain_ok", "relay_rig"]


@dataclass
class RelayRig:
    rig: Rig
    relay: RelayService
    sim: RunningSim
    feed: HealthFeed

    @property
    def emu(self) -> Emulator:
        return self.rig.emulators[DEVICE]


@asynccontextmanager
async def relay_rig(tmp_path: Path, sim: RunningSim, **shift: object) -> AsyncIterator[RelayRig]:
    """Emulator + store + pipeline + relay to ``sim``; everything stopped on exit."""
    rig = await open_rig(tmp_path, [DEVICE], **shift)
    ofd = OfdSettings(host="127.0.0.1", port=sim.port, connect_timeout_s=1.0, read_timeout_s=2.0)
    relay = await RelayService.start(rig.store, ofd, FAST_SYNC, on_answer=lambda _m: rig.pipeline.wake())
    rig.pipeline.hooks.on_ofd_message = relay.worker.wake
    try:
        yield RelayRig(rig, relay, sim, HealthFeed(SnapshotCache(), rig.pipeline, relay.worker))
    finally:
        await relay.stop()
        await close_rig(rig)
