"""A wrong or rotated token pauses delivery with a red alarm naming the token file; nothing is dead-lettered;
delivery resumes by itself when the token file changes, or on ``sync resume``.

The real buffer file, the real export client and the HQ export simulator (in a thread) expecting its own token.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sync_helpers import eventually

from kkt_adapter.buffer.store import Store
from kkt_adapter.config.settings import ExportSettings, SyncSettings
from kkt_adapter.daemon.health_feed import ofd_snapshot
from kkt_adapter.export.sim.samples import seed_fiscalized
from kkt_adapter.export.sim.server import running_sim
from kkt_adapter.ops.checks_store import check_ofd
from kkt_adapter.ops.problem import DEFAULT_LIMITS, Problem, Severity
from kkt_adapter.ops.snapshot import OfdSnapshot, Snapshot
from kkt_adapter.sync.service import SyncService

GOOD, ROTATED = "the-token-the-ofd-knows", "an-old-token"
DOCS = 40


async def _counts(store: Store) -> dict[str, int]:
    return await store.count_by_state()


@pytest.mark.parametrize("resume", ["token file changes", "sync resume"])
def test_a_refused_token_pauses_and_keeps_every_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, resume: str
) -> None:
    """401/403: every document stays fiscalized, a critical alarm names the file; fixed → all delivered once."""
    monkeypatch.delenv("KKT_ADAPTER_EXPORT_TOKEN", raising=False)
    token_file = tmp_path / "ofd-token"
    token_file.write_text(ROTATED + "\n", encoding="utf-8")

    async def scenario() -> tuple[dict[str, int], list[str], str, dict[str, int], int]:
        with running_sim(tmp_path / "ofd.sqlite", token=GOOD) as sim:
            store = await Store.open(tmp_path / "buffer.db")
            ofd = ExportSettings(enabled=True, base_url=sim.base_url, token_file=token_file)
            service = await SyncService.start(store, ofd, SyncSettings(reset_timeout_s=1.0), ROTATED)
            try:
                await seed_fiscalized(store, range(DOCS))
                service.worker.wake()
                await eventually(lambda: _paused(service), 10)
                await asyncio.sleep(1.0)  # more rounds while paused: nothing may be lost meanwhile
                during = await _counts(store)
                snap = ofd_snapshot(service.worker, True, None, datetime.now(UTC))
                problems = [f"{p.severity.value}:{p.code}:{p.action_ru}" for p in check_ofd_only(snap)]
                token_file.write_text(GOOD + "\n", encoding="utf-8")
                if resume == "sync resume":
                    await service.worker.set_paused(False, "admin")
                await eventually(lambda: _all_delivered(store), 20)
                after = await _counts(store)
                return during, problems, str(service.worker.auth_refused), after, sim.control.documents()["total"]
            finally:
                await service.stop()
                await store.close()

    during, problems, alarm_after, after, at_ofd = asyncio.run(scenario())
    assert during.get("fiscalized") == DOCS
    assert during.get("dead", 0) == 0
    assert len(problems) == 1
    assert problems[0].startswith(f"{Severity.CRITICAL.value}:export_token_refused:")
    assert str(token_file) in problems[0]
    assert after.get("delivered") == DOCS
    assert after.get("dead", 0) == 0
    assert alarm_after == "None"
    assert at_ofd == DOCS


async def _paused(service: SyncService) -> bool:
    return service.worker.auth_refused is not None


async def _all_delivered(store: Store) -> bool:
    return (await store.count_by_state()).get("delivered") == DOCS


def check_ofd_only(ofd: OfdSnapshot) -> list[Problem]:
    """The OFD problems of a snapshot holding only ``ofd``."""
    whole = Snapshot(datetime.now(UTC), 0.0, ofd=ofd)
    return list(check_ofd(whole, whole.taken_at, DEFAULT_LIMITS))
