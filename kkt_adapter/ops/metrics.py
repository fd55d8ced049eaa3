"""Prometheus metrics in their own registry, and the ``GET /metrics`` router.

Event hooks (call them where the event happens; each is cheap and thread-safe):
``observe_intake(seconds)``, ``observe_fiscalization(seconds)``, ``breaker_transition(old, new)``,
``ofd_call(outcome)`` (the relay), ``export_call(outcome)`` (the HQ export),
``device_error(device, code)``. Module-level functions act on the process-wide
:data:`METRICS`; tests build their own :class:`Metrics`. State gauges (receipts by state, queue depth and
age, DLQ, breaker, FN time left and unsent, device clock offsets) are refreshed from the health snapshot
at every scrape. The exposition passes ``promtool check metrics``: base units (seconds), no ``*_created``
series, every receipt state present (0 when empty), help texts that say what is counted.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.ops.checks_store import UNFISCALIZED_STATES, unsent_age_s
from kkt_adapter.ops.health import Verdict, evaluate
from kkt_adapter.ops.health_api import health_source
from kkt_adapter.ops.problem import DEFAULT_LIMITS, Limits
from kkt_adapter.ops.snapshot import BreakerState, Snapshot

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_VERDICT_GAUGE = {Verdict.OK: 0, Verdict.DEGRADED: 1, Verdict.CRITICAL: 2}
_DAY_S = 86400

# ``*_created`` series are the client library's, not ours: a scraper reads resets from the counters.
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client 0.26 leaves it unannotated


class Metrics:
    """All of the daemon's metrics, registered in ``self.registry`` (never the global registry)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.receipts = Gauge(
            "kkt_receipts",
            "Receipts in the buffer by lifecycle state (every state present, 0 when empty)",
            ["state"],
            registry=r,
        )
        self.intake_latency = Histogram(
            "kkt_intake_latency_seconds",
            "Seconds from a receipt POST received to its durable commit in the buffer",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.fiscalization_latency = Histogram(
            "kkt_fiscalization_latency_seconds",
            "Seconds from the first receipt command to the FN's fiscal sign",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "kkt_queue_depth", "Receipts accepted but not yet fiscalized (accepted, printing, unknown)", registry=r
        )
        self.queue_oldest_age = Gauge(
            "kkt_queue_oldest_age_seconds",
            "Age in seconds of the oldest receipt not yet fiscalized (0 when none)",
            registry=r,
        )
        self.unsent_oldest_age = Gauge(
            "kkt_ofd_unsent_oldest_age_seconds",
            "Age in seconds of the oldest fiscal document the OFD has not confirmed, on the device's clock"
            " (0 when none)",
            registry=r,
        )
        self.dlq_size = Gauge(
            "kkt_dlq_size", "HQ export: receipts in its dead-letter queue awaiting an operator", registry=r
        )
        self.breaker_state = Gauge(
            "kkt_ofd_breaker_state", "OFD circuit breaker state: 0 closed, 1 half-open, 2 open", registry=r
        )
        self.breaker_transitions = Counter(
            "kkt_ofd_breaker_transitions",
            "OFD circuit breaker state changes, by old and new state",
            ["from_state", "to_state"],
            registry=r,
        )
        self.ofd_calls = Counter(
            "kkt_ofd_calls", "OFD exchanges by outcome (ticket, retry, refused)", ["outcome"], registry=r
        )
        self.export_calls = Counter("kkt_export_calls", "HQ export submissions by outcome", ["outcome"], registry=r)
        self.ofd_queue = Gauge(
            "kkt_ofd_queue_documents", "Documents in the FN's queue for the OFD (FF39)", ["device", "fn"], registry=r
        )
        self.ofd_queue_oldest_age = Gauge(
            "kkt_ofd_queue_oldest_age_seconds",
            "Age of the FN's oldest document without an OFD ticket, on the device's clock (FF39)",
            ["device", "fn"],
            registry=r,
        )
        self.buffer_used = Gauge("kkt_buffer_used_receipts", "Receipts held in the buffer", registry=r)
        self.buffer_capacity = Gauge(
            "kkt_buffer_capacity_receipts", "Receipts the buffer may hold (buffer.capacity)", registry=r
        )
        self.ofd_outbox = Gauge("kkt_ofd_outbox_messages", "Relay outbox messages by state", ["state"], registry=r)
        self.ofd_dlq_size = Gauge(
            "kkt_ofd_dlq_size", "Relay messages dead-lettered or refused by the FN, not acknowledged", registry=r
        )
        self.fn_expires_in = Gauge(
            "kkt_fn_expires_in_seconds",
            "Seconds until the FN expires, on the device's clock (negative: expired)",
            ["device"],
            registry=r,
        )
        self.fn_unsent = Gauge(
            "kkt_fn_unsent_documents", "Documents in the FN that the OFD has not confirmed", ["device"], registry=r
        )
        self.clock_offset = Gauge(
            "kkt_device_clock_offset_seconds",
            "The device's clock minus the host's, in seconds, at the last reading",
            ["device"],
            registry=r,
        )
        self.device_errors = Counter(
            "kkt_device_errors",
            "Device errors by device and code (0xNN, link, unknown)",
            ["device", "code"],
            registry=r,
        )
        self.health_verdict = Gauge("kkt_health_verdict", "Health verdict: 0 ok, 1 degraded, 2 critical", registry=r)
        self.disk_free = Gauge("kkt_disk_free_bytes", "Free bytes on the buffer's file system", registry=r)
        self.audit_head_seq = Gauge(
            "kkt_audit_chain_head_seq", "Sequence number of the newest audit event (anchored head)", registry=r
        )
        self.audit_chain_ok = Gauge("kkt_audit_chain_ok", "1 when the audit chain verified, 0 when broken", registry=r)
        for state in ReceiptState:
            self.receipts.labels(state=state.value).set(0)

    def observe_intake(self, seconds: float) -> None:
        """Record one intake: from request received to the receipt committed."""
        self.intake_latency.observe(seconds)

    def observe_fiscalization(self, seconds: float) -> None:
        """Record one fiscalization: from the first byte to the device to the FN's answer."""
        self.fiscalization_latency.observe(seconds)

    def breaker_transition(self, old: BreakerState | str, new: BreakerState | str) -> None:
        """Count a breaker state change and set the breaker gauge to ``new``; ``ValueError`` on an unknown state."""
        old_s, new_s = BreakerState(old), BreakerState(new)
        self.breaker_transitions.labels(from_state=old_s.value, to_state=new_s.value).inc()
        self.breaker_state.set(new_s.gauge)

    def ofd_call(self, outcome: str) -> None:
        """Count one OFD exchange of the relay by outcome: ``ticket``, ``retry`` or ``refused``."""
        self.ofd_calls.labels(outcome=outcome).inc()

    def export_call(self, outcome: str) -> None:
        """Count one HQ export submission by outcome (``delivered``, ``retry``, ``permanent``)."""
        self.export_calls.labels(outcome=outcome).inc()

    def update_outbox(self, counts: dict[str, int], open_dead: int) -> None:
        """Set the relay outbox gauges: rows per state, and the dead/refused rows nobody acknowledged."""
        self.ofd_outbox.clear()
        for state, count in counts.items():
            self.ofd_outbox.labels(state=state).set(count)
        self.ofd_dlq_size.set(open_dead)

    def device_error(self, device: str, code: int | str) -> None:
        """Count one device error; an int code is labelled as ``0xNN`` (the device's error table)."""
        label = f"0x{code:02X}" if isinstance(code, int) else code
        self.device_errors.labels(device=device, code=label).inc()

    def update_from_snapshot(self, snap: Snapshot, now: datetime, limits: Limits = DEFAULT_LIMITS) -> None:
        """Set every state gauge from ``snap`` at ``now`` (aware); labels of vanished devices are dropped."""
        buf = snap.buffer
        for state in ReceiptState:
            self.receipts.labels(state=state.value).set(buf.count(state.value))
        self.queue_depth.set(sum(buf.count(s) for s in UNFISCALIZED_STATES))
        self.queue_oldest_age.set(_age(now, buf.oldest_unfiscalized_at))
        self.unsent_oldest_age.set(unsent_age_s(snap, now) or 0.0)
        self.dlq_size.set(buf.dlq_size)
        self.buffer_used.set(buf.capacity_used)
        self.buffer_capacity.set(buf.capacity_limit)
        self.disk_free.set(buf.disk_free_bytes)
        self.audit_head_seq.set(buf.chain_head_seq)
        self.audit_chain_ok.set(0 if buf.chain_problem else 1)
        self.breaker_state.set(snap.ofd.breaker.gauge)
        self.fn_expires_in.clear()
        self.fn_unsent.clear()
        self.clock_offset.clear()
        self.ofd_queue.clear()
        self.ofd_queue_oldest_age.clear()
        for dev in snap.devices:
            if dev.clock_offset_s is not None:
                self.clock_offset.labels(device=dev.device_id).set(dev.clock_offset_s)
            if dev.fn is None:
                continue
            self.fn_unsent.labels(device=dev.device_id).set(dev.fn.unsent_count)
            self.ofd_queue.labels(device=dev.device_id, fn=dev.fn.serial).set(dev.fn.unsent_count)
            oldest = dev.fn.oldest_unsent_at if dev.fn.unsent_count > 0 else None
            self.ofd_queue_oldest_age.labels(device=dev.device_id, fn=dev.fn.serial).set(_age(dev.now_of(now), oldest))
            if dev.fn.expires_on is not None:
                days_left = (dev.fn.expires_on - dev.now_of(now).date()).days
                self.fn_expires_in.labels(device=dev.device_id).set(days_left * _DAY_S)
        self.health_verdict.set(_VERDICT_GAUGE[evaluate(snap, now, limits).verdict])

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


def _age(now: datetime, then: datetime | None) -> float:
    return 0.0 if then is None else max(0.0, (now - then).total_seconds())


METRICS = Metrics()


def observe_intake(seconds: float) -> None:
    """:meth:`Metrics.observe_intake` on :data:`METRICS`."""
    METRICS.observe_intake(seconds)


def observe_fiscalization(seconds: float) -> None:
    """:meth:`Metrics.observe_fiscalization` on :data:`METRICS`."""
    METRICS.observe_fiscalization(seconds)


def breaker_transition(old: BreakerState | str, new: BreakerState | str) -> None:
    """:meth:`Metrics.breaker_transition` on :data:`METRICS`."""
    METRICS.breaker_transition(old, new)


def ofd_call(outcome: str) -> None:
    """:meth:`Metrics.ofd_call` on :data:`METRICS`."""
    METRICS.ofd_call(outcome)


def export_call(outcome: str) -> None:
    """:meth:`Metrics.export_call` on :data:`METRICS`."""
    METRICS.export_call(outcome)


def device_error(device: str, code: int | str) -> None:
    """:meth:`Metrics.device_error` on :data:`METRICS`."""
    METRICS.device_error(device, code)


metrics_router = APIRouter(tags=["metrics"])


@metrics_router.get("/metrics", include_in_schema=False)
async def get_metrics(request: Request) -> Response:
    """Refresh the state gauges from the app's health source (if set), then expose the registry.

    Uses ``app.state.metrics`` when the wiring set one, else :data:`METRICS`.
    """
    metrics = getattr(request.app.state, "metrics", METRICS)
    if not isinstance(metrics, Metrics):
        metrics = METRICS
    source = health_source(request)
    if source is not None:
        metrics.update_from_snapshot(source.snapshot(), source.now(), source.limits)
        if source.outbox is not None:
            metrics.update_outbox(*await source.outbox())
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
