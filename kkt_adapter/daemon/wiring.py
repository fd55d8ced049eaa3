"""Assemble the daemon: open the buffer, start the print pipeline, the OFD sync and the ops loops; stop in order.

Start order: buffer → pipeline (recovers receipts left ``printing``/``unknown``) → sync → health feed,
watchdog, nightly jobs. Stop order is the reverse, and the pipeline stops gracefully: a receipt on the
printer is finished before the process exits.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from fastapi import FastAPI

from kkt_adapter.api import routes_devices, routes_ofd, routes_sync
from kkt_adapter.api.app import create_app
from kkt_adapter.api.deps import Services
from kkt_adapter.api.origin import allowed_hosts
from kkt_adapter.buffer.store import Store
from kkt_adapter.clock import utc_now
from kkt_adapter.config.secrets import ADMIN_TOKEN_ENV, EXPORT_TOKEN_ENV, POS_TOKEN_ENV, load_secret
from kkt_adapter.config.settings import OfdMode, Settings
from kkt_adapter.daemon.devices import shtrih_driver
from kkt_adapter.daemon.health_feed import HealthFeed
from kkt_adapter.daemon.ofd_link import check_ofd_link
from kkt_adapter.ops import metrics
from kkt_adapter.ops.backup_job import nightly_backup
from kkt_adapter.ops.health import can_accept_receipts, evaluate, status_line
from kkt_adapter.ops.health_api import HealthSource, health_router
from kkt_adapter.ops.notify import Notifier, run_status, run_watchdog
from kkt_adapter.ops.page import page_router
from kkt_adapter.ops.problem import DEFAULT_LIMITS
from kkt_adapter.ops.snapshot_cache import SnapshotCache, run_buffer_refresher
from kkt_adapter.pipeline.service import Pipeline
from kkt_adapter.sync.relay_service import RelayService
from kkt_adapter.sync.service import SyncService

log = logging.getLogger("kkt_adapter.daemon")
Relay = RelayService | None
Export = SyncService | None


async def open_store(settings: Settings) -> Store:
    """Open the buffer with the configured limits (raises DatabaseRefused / StorageUnavailable)."""
    return await Store.open(
        settings.buffer.path,
        capacity=settings.buffer.capacity,
        busy_timeout_ms=settings.buffer.busy_timeout_ms,
        group_max=settings.buffer.group_commit_max,
        min_free_bytes=settings.buffer.min_free_bytes,
    )


def _nightly(settings: Settings, store: Store) -> AsyncIOScheduler | None:
    """APScheduler for the wall-clock job: the nightly backup (the sync loop is not a scheduler job)."""
    at = settings.ops.backup_at
    if at is None:
        return None
    zone = ZoneInfo(settings.ops.timezone)
    scheduler = AsyncIOScheduler(timezone=zone)
    scheduler.add_job(
        nightly_backup,
        CronTrigger(hour=at.hour, minute=at.minute, timezone=zone),
        args=[store, settings.buffer.path, settings.ops.backup_dir],
        id="ops.nightly_backup",
        replace_existing=True,
        misfire_grace_time=3600,
        coalesce=True,
    )
    scheduler.start()
    return scheduler


async def _start_relay(settings: Settings, store: Store, pipeline: Pipeline) -> RelayService | None:
    """The OFD relay loop (``ofd.mode = relay``): outbox → OFD over TCP → tickets back to the devices."""
    if settings.ofd.mode is not OfdMode.RELAY or not settings.sync.enabled:
        return None
    relay = await RelayService.start(
        store,
        settings.ofd,
        settings.sync,
        now=store.clock,  # one wall clock: the loop's due-time decisions and the outbox writes they stamp
        on_answer=lambda _message: pipeline.wake(),
        on_outcome=metrics.ofd_call,
        on_breaker_change=metrics.breaker_transition,
    )
    pipeline.hooks.on_ofd_message = relay.worker.wake
    return relay


async def outbox_numbers(store: Store) -> tuple[dict[str, int], int]:
    """The relay outbox's rows per state, and the dead or refused ones nobody acknowledged (for /metrics)."""
    counts = await store.outbox_counts()
    return counts, await store.outbox_open_dead()


async def _start_export(settings: Settings, store: Store) -> SyncService | None:
    """The optional HQ export loop (receipts as JSON, its own breaker) with its metrics hooks; off by default."""
    if not settings.export.enabled:
        return None
    token = load_secret(EXPORT_TOKEN_ENV, settings.export.token_file)
    return await SyncService.start(
        store,
        settings.export,
        settings.sync,
        token.get_secret_value() if token else None,
        now=store.clock,
        on_outcome=metrics.export_call,
    )


def _status_text(health: HealthSource) -> str:
    return status_line(evaluate(health.snapshot(), health.now(), health.limits))


def _ops_loops(settings: Settings, store: Store, feed: HealthFeed, health: HealthSource) -> list[asyncio.Task[None]]:
    """The background loops of operations: buffer numbers, health feed, systemd watchdog and status."""
    notifier, buffer = Notifier(), settings.buffer
    configured = frozenset(device.id for device in settings.devices)
    refresher = run_buffer_refresher(
        feed.cache, store, buffer.path, buffer.capacity, lambda: store.writer.last_error, configured=configured
    )
    watchdog = run_watchdog(notifier, feed.heartbeats, stale_after_s=settings.ops.watchdog_stale_s)
    return [
        asyncio.create_task(refresher, name="health-buffer"),
        asyncio.create_task(feed.run(), name="health-feed"),
        asyncio.create_task(watchdog, name="watchdog"),
        asyncio.create_task(run_status(notifier, partial(_status_text, health)), name="systemd-status"),
    ]


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _health(settings: Settings, feed: HealthFeed, store: Store) -> HealthSource:
    """Health in the shop's timezone; readiness agrees with intake: the disk is "full" exactly where the
    buffer refuses receipts."""
    zone = ZoneInfo(settings.ops.timezone)
    limits = replace(
        DEFAULT_LIMITS,
        disk_critical_bytes=settings.buffer.min_free_bytes,
        clock_skew_max_s=settings.ops.clock_skew_max_s,
    )
    return HealthSource(feed.snapshot, lambda: datetime.now(zone), limits, partial(outbox_numbers, store))


def _services(
    settings: Settings,
    store: Store,
    pipeline: Pipeline,
    sync: SyncService | None,
    relay: RelayService | None,
    health: HealthSource,
) -> Services:
    def readiness() -> tuple[bool, str]:
        return can_accept_receipts(evaluate(health.snapshot(), health.now(), health.limits))

    return Services(
        settings=settings,
        store=store,
        clock=utc_now,
        pos_token=load_secret(POS_TOKEN_ENV, settings.api.pos_token_file),
        admin_token=load_secret(ADMIN_TOKEN_ENV, settings.api.admin_token_file),
        intake_refusal=pipeline.intake_refusal,
        readiness=readiness,
        observe_intake=metrics.observe_intake,
        pipeline=pipeline,
        sync=sync.worker if sync else None,
        relay=relay.worker if relay else None,
    )


async def _start_core(settings: Settings, stack: AsyncExitStack) -> tuple[Store, Pipeline, Relay, Export]:
    """The buffer, the pipeline (built, not started), the OFD relay and the optional export, each one's stop
    pushed on ``stack`` right after its start."""
    store = await open_store(settings)
    stack.push_async_callback(store.close)
    pipeline = Pipeline(
        settings,
        store,
        utc_now,
        driver_factory=shtrih_driver,
        observe_fiscalization=metrics.observe_fiscalization,
        device_error=metrics.device_error,
    )
    relay = await _start_relay(settings, store, pipeline)
    if relay is not None:
        stack.push_async_callback(relay.stop)
    sync = await _start_export(settings, store)
    if sync is not None:
        stack.push_async_callback(sync.stop)
        pipeline.hooks.on_fiscalized = sync.worker.wake
    return store, pipeline, relay, sync


async def start_parts(settings: Settings, stack: AsyncExitStack) -> tuple[Services, HealthSource]:
    """Start every part in order, each one's stop pushed on ``stack`` right after its start (so they stop in
    reverse: systemd told first, the pipeline finishing the receipt on the printer, the buffer last)."""
    store, pipeline, relay, sync = await _start_core(settings, stack)
    feed = HealthFeed(
        SnapshotCache(),
        pipeline,
        relay.worker if relay else None,
        settings.ofd.mode.value,
        store.outbox_open_dead if relay else None,
    )
    feed.export = sync.worker if sync else None
    health = _health(settings, feed, store)
    services = _services(settings, store, pipeline, sync, relay, health)
    stack.push_async_callback(services.refusals.flush, store.audit)  # the counted refusals, before the buffer closes
    await pipeline.start()
    stack.push_async_callback(pipeline.stop)  # graceful: the receipt on the printer is finished
    link_check = asyncio.create_task(check_ofd_link(settings, pipeline, relay), name="ofd-link-check")
    stack.push_async_callback(_cancel, [link_check, *_ops_loops(settings, store, feed, health)])
    scheduler = _nightly(settings, store)
    if scheduler is not None:
        stack.callback(scheduler.shutdown, wait=False)
    stack.callback(Notifier().stopping)
    return services, health


@asynccontextmanager
async def _lifespan(settings: Settings, app: FastAPI) -> AsyncIterator[None]:
    """Every part for as long as the app serves (:func:`start_parts`), stopped in reverse."""
    async with AsyncExitStack() as stack:
        app.state.services, app.state.health = await start_parts(settings, stack)
        # Everything built so far lives as long as the process: move it out of the collector's way, so
        # the full collections that run under load do not walk ~10^5 start-up objects (tail latency).
        gc.freeze()
        log.info("daemon ready: %d device(s), buffer %s", len(settings.devices), settings.buffer.path)
        yield
    log.info("daemon stopped")


def build_app(settings: Settings) -> FastAPI:
    """The daemon's FastAPI app; its lifespan runs every component (:func:`start_parts`)."""
    return create_app(
        settings.api.max_body_bytes,
        lifespan=partial(_lifespan, settings),
        extra_routers=[
            routes_sync.router,
            routes_ofd.router,
            routes_devices.router,
            health_router,
            page_router,
            metrics.metrics_router,
        ],
        hosts=allowed_hosts(settings.api.allowed_hosts, settings.api.host),
    )
