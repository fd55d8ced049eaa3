"""One key posted 1,000 times at once against the daemon process: exactly one receipt, one 202 and 999 200s.

The load comes from 50 raw HTTP/1.1 keep-alive connections (httpx's pool is too slow here to keep 50 in flight).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import Callable
from typing import Any

from daemon_harness import Daemon, RawHttpClient

REPLAYS = 1000
IN_FLIGHT = 50


async def storm(port: int, body: dict[str, Any]) -> Counter[int]:
    """IN_FLIGHT keep-alive connections post the same key until REPLAYS requests were sent."""
    statuses: Counter[int] = Counter()
    left = iter(range(REPLAYS))

    async def connection() -> None:
        async with RawHttpClient(port) as http:
            for _ in left:
                status, _body = await http.post_json("/v1/receipts", body, {"Idempotency-Key": "storm-1"})
                statuses[status] += 1

    await asyncio.gather(*(connection() for _ in range(IN_FLIGHT)))
    return statuses


def test_a_thousand_concurrent_replays_store_one_receipt(
    daemon: Daemon, valid_receipt: Callable[..., dict[str, Any]]
) -> None:
    """50 requests in flight at a time, 1,000 in all, same key and body: 1 × 202 + 999 × 200, one row, one event."""
    statuses = asyncio.run(storm(daemon.port, valid_receipt()))
    assert statuses == Counter({202: 1, 200: REPLAYS - 1})
    conn = sqlite3.connect(daemon.db_path)
    try:
        assert conn.execute("SELECT count(*) FROM receipts WHERE key = 'storm-1'").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM events WHERE key = 'storm-1'").fetchone()[0] == 1
    finally:
        conn.close()
