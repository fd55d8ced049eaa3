"""The soak's POS clients: valid and invalid receipts, posted the way a real POS does (same key on retry).

Each client thread takes receipt numbers from a shared :class:`Budget` at a paced rate, posts each one
and retries the same key with the same body after a timeout, a refused connection (daemon killed) or a
503, until a definite answer or the per-receipt deadline. :class:`Tally` records what each key got.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from kkt_adapter.receipts.rules import line_amount_kop

POST_TIMEOUT_S = 5.0
RECEIPT_DEADLINE_S = 90.0
RETRY_PAUSE_S = 0.3
VATS = ("vat22", "vat10", "vat0", "none", "vat122", "vat110")


def valid_receipt(rng: random.Random) -> dict[str, Any]:
    """A receipt that passes every intake rule in 2026 (OSN device): 1–4 lines, cash with change or card."""
    items: list[dict[str, Any]] = []
    for n in range(rng.randint(1, 4)):
        price = rng.randint(1, 500_000)
        quantity = Decimal(rng.randint(1, 5_000)) / Decimal(rng.choice((1, 10, 1000)))
        items.append(
            {
                "name": f"Товар {n} «soak»",
                "price_kop": price,
                "quantity": str(quantity),
                "amount_kop": line_amount_kop(price, quantity),
                "vat": rng.choice(VATS),
            }
        )
    total = sum(int(i["amount_kop"]) for i in items)
    if total == 0:
        items[0]["price_kop"], items[0]["quantity"], items[0]["amount_kop"] = 100, "1", 100
        total = sum(int(i["amount_kop"]) for i in items)
    if rng.random() < 0.5:
        payments = [{"type": "cash", "amount_kop": total + rng.choice((0, 0, 50, 1_000))}]
    else:
        payments = [{"type": "electronic", "amount_kop": total}]
    return {"operation": "sell", "items": items, "payments": payments, "total_kop": total}


def invalid_receipt(rng: random.Random) -> dict[str, Any]:
    """A receipt the intake must refuse with 422 (one defect of several kinds)."""
    body = valid_receipt(rng)
    defect = rng.randrange(5)
    if defect == 0:
        body["total_kop"] += 1
    elif defect == 1:
        body["items"][0]["vat"] = "vat18"
    elif defect == 2:
        body["items"][0]["price_kop"] = -1
    elif defect == 3:
        body["items"] = []
    else:
        body["created_at"] = "2001-01-01T00:00:00+03:00"
    return body


@dataclass
class Budget:
    """Receipt numbers handed out at most ``total`` times, no faster than ``rate_per_s``."""

    total: int
    rate_per_s: float
    taken: int = 0
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, stop: threading.Event) -> int | None:
        """The next number, after pacing; None when the budget is spent or ``stop`` is set."""
        with self.lock:
            if self.taken >= self.total or stop.is_set():
                return None
            number = self.taken
            self.taken += 1
        due = self.started + number / self.rate_per_s
        stop.wait(max(0.0, due - time.monotonic()))
        return None if stop.is_set() else number


@dataclass
class Tally:
    """What the POS clients saw, per key."""

    accepted: dict[str, int] = field(default_factory=dict)  # key → total_kop
    invalid_refused: int = 0
    gave_up: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    replays: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def posted(self) -> int:
        return len(self.accepted) + self.invalid_refused + len(self.gave_up) + len(self.violations)


def _post_until_definite(client: httpx.Client, url: str, key: str, body: dict[str, Any], tally: Tally) -> int | None:
    """POST ``body`` under ``key`` until a status other than 503 (or the deadline); None if none came."""
    deadline = time.monotonic() + RECEIPT_DEADLINE_S
    attempt = 0
    while time.monotonic() < deadline:
        if attempt:
            with tally.lock:
                tally.retries += 1
            time.sleep(RETRY_PAUSE_S)
        attempt += 1
        try:
            response = client.post(url, json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError as exc:
            with tally.lock:
                tally.statuses[type(exc).__name__] += 1
            continue
        with tally.lock:
            tally.statuses[str(response.status_code)] += 1
        if response.status_code != 503:
            return response.status_code
    return None


def post_one(client: httpx.Client, url: str, key: str, valid: bool, rng: random.Random, tally: Tally) -> None:
    """Post one receipt (retrying as a POS does) and record the outcome; replay some accepted ones."""
    body = valid_receipt(rng) if valid else invalid_receipt(rng)
    status = _post_until_definite(client, url, key, body, tally)
    with tally.lock:
        if status is None:
            tally.gave_up.append(key)
        elif 200 <= status < 300:
            tally.accepted[key] = int(body["total_kop"])
            if not valid:
                tally.violations.append(f"{key}: an invalid receipt was accepted ({status})")
        elif status == 422 and not valid:
            tally.invalid_refused += 1
        else:
            tally.violations.append(f"{key}: {'valid' if valid else 'invalid'} receipt answered {status}")
    if status is not None and 200 <= status < 300 and rng.random() < 0.05:
        replay = _post_until_definite(client, url, key, body, tally)
        with tally.lock:
            tally.replays += 1
            if replay != 200:
                tally.violations.append(f"{key}: a replay of the same body answered {replay}, not 200")


def pos_client(
    index: int, api: str, budget: Budget, tally: Tally, stop: threading.Event, invalid_share: float, seed: int
) -> None:
    """One POS terminal: posts receipts ``pos{index}-{n}`` until the budget is spent or ``stop`` is set."""
    rng = random.Random(seed * 1000 + index)
    with httpx.Client(timeout=POST_TIMEOUT_S) as client:
        while (number := budget.take(stop)) is not None:
            key = f"pos{index}-{number}"
            post_one(client, f"{api}/v1/receipts", key, rng.random() >= invalid_share, rng, tally)
