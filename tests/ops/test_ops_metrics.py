"""Prometheus metrics: hooks and snapshot gauges, scraped over a real uvicorn."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from daemon_harness import prepare_daemon, running
from fastapi import FastAPI
from prereq import missing
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from kkt_adapter.ops.health_api import HealthSource
from kkt_adapter.ops.metrics import Metrics, metrics_router
from kkt_adapter.ops.snapshot import (
    BreakerState,
    BufferSnapshot,
    DeviceSnapshot,
    FnSnapshot,
    OfdSnapshot,
    Snapshot,
)

Serve = Callable[[FastAPI], str]
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone(timedelta(hours=3)))


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def snapshot(devices: tuple[DeviceSnapshot, ...]) -> Snapshot:
    buffer = BufferSnapshot(
        counts_by_state={"accepted": 3, "printing": 1, "fiscalized": 7, "delivered": 90},
        oldest_unfiscalized_at=NOW - timedelta(seconds=42),
        dlq_size=2,
    )
    ofd = OfdSnapshot(breaker=BreakerState.OPEN)
    return Snapshot(taken_at=NOW, taken_mono=0.0, buffer=buffer, devices=devices, ofd=ofd)


def test_scrape_shows_hooks_and_snapshot_gauges(serve: Serve) -> None:
    """A scrape of ``/metrics`` shows the hook counters, the histograms and gauges from the snapshot."""
    metrics = Metrics()
    fn = FnSnapshot(serial="1", expires_on=date(2026, 4, 9), unsent_count=7)
    current = {"snap": snapshot((DeviceSnapshot(device_id="kkt1", connected=True, fn=fn),))}
    app = FastAPI()
    app.include_router(metrics_router)
    app.state.metrics = metrics
    app.state.health = HealthSource(lambda: current["snap"], lambda: NOW)
    metrics.observe_intake(0.003)
    metrics.observe_fiscalization(1.7)
    metrics.breaker_transition("closed", BreakerState.OPEN)
    metrics.ofd_call("transient")
    metrics.ofd_call("transient")
    metrics.device_error("kkt1", 0x6B)
    url = serve(app) + "/metrics"

    resp = httpx.get(url, timeout=5)
    assert resp.headers["content-type"].startswith("text/plain")
    got = samples(resp.text)
    assert got[("kkt_receipts", (("state", "accepted"),))] == 3
    assert got[("kkt_queue_depth", ())] == 4
    assert got[("kkt_queue_oldest_age_seconds", ())] == 42
    assert got[("kkt_dlq_size", ())] == 2
    assert got[("kkt_ofd_breaker_state", ())] == 2
    assert got[("kkt_ofd_breaker_transitions_total", (("from_state", "closed"), ("to_state", "open")))] == 1
    assert got[("kkt_ofd_calls_total", (("outcome", "transient"),))] == 2
    assert got[("kkt_fn_expires_in_seconds", (("device", "kkt1"),))] == 30 * 86400
    assert got[("kkt_fn_unsent_documents", (("device", "kkt1"),))] == 7
    assert got[("kkt_device_errors_total", (("code", "0x6B"), ("device", "kkt1")))] == 1
    assert got[("kkt_intake_latency_seconds_count", ())] == 1
    assert got[("kkt_intake_latency_seconds_bucket", (("le", "0.005"),))] == 1
    assert got[("kkt_fiscalization_latency_seconds_sum", ())] == pytest.approx(1.7)
    assert got[("kkt_health_verdict", ())] == 1  # degraded: breaker open, DLQ not empty

    current["snap"] = snapshot(())
    assert not any(name == "kkt_fn_expires_in_seconds" for name, _ in samples(httpx.get(url, timeout=5).text))


def test_metrics_stay_out_of_the_global_registry() -> None:
    """Creating a :class:`Metrics` registers nothing in prometheus-client's global registry."""
    Metrics().ofd_call("ok")
    assert REGISTRY.get_sample_value("kkt_ofd_calls_total", {"outcome": "ok"}) is None


def test_unknown_breaker_state_is_refused() -> None:
    """A breaker transition to a state that does not exist raises instead of exporting garbage."""
    with pytest.raises(ValueError, match="ajar"):
        Metrics().breaker_transition("closed", "ajar")


def _promtool(text: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        missing("promtool (apt install prometheus; scripts/test installs it)")
    assert promtool is not None
    return subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False)


def test_exposition_passes_promtool_with_every_state_and_no_created_series() -> None:
    """Every metric family filled: `promtool check metrics` is clean, no `*_created`, empty states read 0."""
    metrics = Metrics()
    metrics.observe_intake(0.01)
    metrics.observe_fiscalization(0.5)
    metrics.breaker_transition("closed", "open")
    metrics.ofd_call("ok")
    metrics.device_error("kkt1", 0x6B)
    fn = FnSnapshot(serial="1", expires_on=date(2026, 4, 9), unsent_count=1, oldest_unsent_at=NOW - timedelta(hours=2))
    dev = DeviceSnapshot(device_id="kkt1", connected=True, fn=fn, device_now=NOW, clock_offset_s=-12.5)
    metrics.update_from_snapshot(snapshot((dev,)), NOW)
    text = metrics.render().decode()
    result = _promtool(text)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "_created" not in text
    got = samples(text)
    assert got[("kkt_receipts", (("state", "dead"),))] == 0
    assert got[("kkt_ofd_unsent_oldest_age_seconds", ())] == 7200
    assert got[("kkt_device_clock_offset_seconds", (("device", "kkt1"),))] == -12.5


def test_live_daemon_metrics_pass_promtool(tmp_path: Path) -> None:
    """`promtool check metrics` on the /metrics of a running `kkt-adapter run`."""
    with running(prepare_daemon(tmp_path / "d")) as daemon:
        text = httpx.get(daemon.base_url + "/metrics", timeout=10).text
    result = _promtool(text)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'kkt_receipts{state="delivered"} 0.0' in text


def test_ofd_queue_per_fn_in_seconds_on_the_device_clock() -> None:
    """Each FN's queue length and its oldest unsent document's age (device clock, seconds) are per (device, fn)."""
    fn = FnSnapshot("9999078900001234", unsent_count=5, oldest_unsent_at=NOW - timedelta(days=3))
    ahead = DeviceSnapshot(device_id="kkt1", connected=True, fn=fn, device_now=NOW + timedelta(hours=1))
    metrics = Metrics()
    metrics.update_from_snapshot(snapshot((ahead,)), NOW)
    metrics.update_outbox({"read": 1, "answered": 0, "written": 40, "refused": 1, "dead": 2}, 3)
    got = samples(metrics.render().decode())
    labels = (("device", "kkt1"), ("fn", "9999078900001234"))
    assert got[("kkt_ofd_queue_documents", labels)] == 5
    assert got[("kkt_ofd_queue_oldest_age_seconds", labels)] == 3 * 86400 + 3600  # the device is 1 h ahead
    assert got[("kkt_ofd_outbox_messages", (("state", "written"),))] == 40
    assert got[("kkt_ofd_dlq_size", ())] == 3
