"""``python -m kkt_adapter.sync.drain``: run the sync worker alone against a buffer file.

A test and benchmark tool (the daemon runs the same worker in-process): the kill -9 test and
``scripts/bench-drain`` start it as a subprocess. With ``--until-empty`` it exits once no document is
``fiscalized``, and prints one JSON line: delivered, elapsed_s, docs_per_s, peak_rss_kb, stats. With
``--intake-rate R`` it also inserts R new receipts per second through the same store while it drains
(as the daemon's intake shares the buffer's writer with the sync) and adds their latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path

from kkt_adapter.buffer.store import Store
from kkt_adapter.config.secrets import EXPORT_TOKEN_ENV, load_secret
from kkt_adapter.export.client import ExportClient, ExportClientConfig
from kkt_adapter.export.sim.samples import sample_receipt
from kkt_adapter.receipts.model import TaxSystem
from kkt_adapter.sync.config import SyncConfig
from kkt_adapter.sync.worker import SyncWorker


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kkt_adapter.sync.drain")
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--export-url", required=True, help="the HQ export endpoint (e.g. export-sim)")
    parser.add_argument("--token-file", type=Path, default=None)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--lease-s", type=float, default=60.0)
    parser.add_argument("--reset-timeout-s", type=float, default=60.0)
    parser.add_argument("--backoff-base-s", type=float, default=2.0)
    parser.add_argument("--backoff-cap-s", type=float, default=600.0)
    parser.add_argument("--connect-timeout-s", type=float, default=3.0)
    parser.add_argument("--read-timeout-s", type=float, default=10.0)
    parser.add_argument("--until-empty", action="store_true", help="exit when nothing is fiscalized")
    parser.add_argument("--max-s", type=float, default=3600.0, help="give up after this long")
    parser.add_argument("--intake-rate", type=float, default=0.0, help="receipts/s inserted while draining")
    return parser


async def _intake(store: Store, rate: float, latencies_ms: list[float]) -> None:
    """Insert sample receipts at ``rate`` per second until cancelled, timing each committed insert."""
    index = 10_000_000
    while True:
        started = time.perf_counter()
        await store.insert_receipt(f"intake-{index}", sample_receipt(index), "kkt1", TaxSystem.OSN)
        latencies_ms.append((time.perf_counter() - started) * 1000)
        index += 1
        await asyncio.sleep(max(1 / rate - (time.perf_counter() - started), 0.0))


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    ordered = sorted(values)
    if not ordered:
        return {"intake_n": 0, "intake_p50_ms": None, "intake_p99_ms": None}
    p99 = ordered[min(int(len(ordered) * 0.99), len(ordered) - 1)]
    return {
        "intake_n": len(ordered),
        "intake_p50_ms": round(ordered[len(ordered) // 2], 2),
        "intake_p99_ms": round(p99, 2),
    }


async def _drain(args: argparse.Namespace) -> dict[str, object]:
    secret = load_secret(EXPORT_TOKEN_ENV, args.token_file)
    config = SyncConfig(
        concurrency=args.concurrency,
        batch=args.batch,
        lease_s=args.lease_s,
        reset_timeout_s=args.reset_timeout_s,
        backoff_base_s=args.backoff_base_s,
        backoff_cap_s=args.backoff_cap_s,
    )
    client_config = ExportClientConfig(
        base_url=args.export_url,
        connect_timeout_s=args.connect_timeout_s,
        read_timeout_s=args.read_timeout_s,
        max_connections=config.concurrency,
        token=secret.get_secret_value() if secret else None,
    )
    store = await Store.open(args.db)
    client = ExportClient(client_config)
    worker = SyncWorker(store, client.submit, config, max_idle_s=1.0)
    latencies_ms: list[float] = []
    intake = asyncio.create_task(_intake(store, args.intake_rate, latencies_ms)) if args.intake_rate > 0 else None
    started = time.monotonic()
    try:
        async with asyncio.timeout(args.max_s):
            while True:
                result = await worker.run_once()
                if args.until_empty and result.wait_s is None and result.why != "paused":
                    break
                await worker.sleep_until_due(result.wait_s)
    finally:
        if intake is not None:
            intake.cancel()
            await asyncio.gather(intake, return_exceptions=True)
        await client.aclose()
        await store.close()
    elapsed_s = time.monotonic() - started
    return {
        "delivered": worker.stats.delivered,
        "elapsed_s": round(elapsed_s, 3),
        "docs_per_s": round(worker.stats.delivered / elapsed_s, 1) if elapsed_s > 0 else None,
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "stats": worker.status()["stats"],
        **_percentiles(latencies_ms),
    }


def main(argv: list[str]) -> int:
    """Drain and print the JSON summary line; 0 on success."""
    result = asyncio.run(_drain(_parser().parse_args(argv)))
    print(json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
