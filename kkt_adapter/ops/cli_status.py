"""``kkt-adapter status [--config F | --url URL]``: the daemon's health verdict and numbers for a terminal.

Exit code: 0 ok, 1 degraded, 2 critical or the daemon does not answer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import httpx

from kkt_adapter.config import ConfigError, load_settings

EXIT_BY_VERDICT = {"ok": 0, "degraded": 1, "critical": 2}


def _yes(value: object) -> str:
    return "?" if value is None else ("yes" if value else "no")


def _v(value: object) -> str:
    """A value for the terminal: ``-`` for an unknown (never Python's ``None``)."""
    return "-" if value is None else str(value)


def _device_line(dev: dict[str, Any], numbers: dict[str, Any]) -> str:
    extra = numbers.get("devices", {}).get(dev["device_id"], {})
    shift = f"open {_v(extra.get('shift_age_h'))} h" if dev.get("shift_open") else "closed"
    fn = dev.get("fn") or {}
    clock = ""
    if extra.get("device_time") is not None:
        clock = f", device clock {extra['device_time']} (offset {_v(extra.get('clock_offset_s'))} s)"
    return (
        f"device {dev['device_id']}: {'connected' if dev['connected'] else 'DISCONNECTED'}, mode {_v(dev.get('mode'))},"
        f" paper {_yes(dev.get('paper_present'))}, shift {shift}, FN {fn.get('serial', '-')}"
        f" days left {_v(extra.get('fn_days_left'))}, FN unsent {fn.get('unsent_count', '-')}{clock}"
    )


def render_status(body: dict[str, Any]) -> str:
    """The ``GET /v1/health`` body as lines for a terminal (pure)."""
    snap, numbers = body["snapshot"], body["numbers"]
    buf, ofd = snap["buffer"], snap["ofd"]
    lines = [f"kkt-adapter: {body['verdict'].upper()} (checked {body['checked_at']})"]
    lines += [f"  [{p['severity']}] {p['sentence_ru']}" for p in body["problems"]]
    counts = ", ".join(f"{state} {n}" for state, n in sorted(buf["counts_by_state"].items())) or "none"
    lines.append(
        f"receipts: {counts}; capacity {buf['capacity_used']}/{buf['capacity_limit']};"
        f" DLQ {buf['dlq_size']}; disk free {buf['disk_free_bytes'] // (1024 * 1024)} MB"
    )
    lines.append(
        f"ofd: breaker {ofd['breaker']}, failures {ofd['consecutive_failures']}, last success"
        f" {_v(ofd['last_success_at'])}, unsent {numbers['unsent']}, oldest {_v(numbers['oldest_unsent_age_days'])} d,"
        f" days to block {_v(numbers['days_to_ofd_block'])}{', PAUSED' if ofd['sync_paused'] else ''}"
    )
    lines += [_device_line(dev, numbers) for dev in snap["devices"]]
    lines.append("intake: accepting" if body["ready"] else f"intake: STOPPED — {body['ready_reason']}")
    return "\n".join(lines)


def _base_url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url).rstrip("/")
    settings = load_settings(args.config)
    host = "127.0.0.1" if settings.api.host in ("0.0.0.0", "::", "") else settings.api.host  # noqa: S104 - a bind-all address is reached through loopback
    return f"http://{host}:{settings.api.port}"


def main(argv: list[str]) -> int:
    """Fetch ``/v1/health`` from the daemon and print it; the exit code is the verdict."""
    parser = argparse.ArgumentParser(prog="kkt-adapter status", description="Print the daemon's health.")
    parser.add_argument("--config", type=Path, help="TOML configuration file (for the daemon's address)")
    parser.add_argument("--url", help="the daemon's base URL (default: from the config, 127.0.0.1:8710)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer")
    args = parser.parse_args(argv)
    try:
        url = _base_url(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        resp = httpx.get(url + "/v1/health", timeout=args.timeout)
        resp.raise_for_status()
        body = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        print(f"kkt-adapter: CRITICAL — the daemon at {url} does not answer ({exc})", file=sys.stderr)
        return 2
    print(render_status(body))
    return EXIT_BY_VERDICT.get(str(body.get("verdict")), 2)
