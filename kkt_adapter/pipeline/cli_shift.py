"""``kkt-adapter shift open|close|x-report|continue [--device ID] [--url URL] [--token-file PATH]``, and
``kkt-adapter device set-clock`` (the device's clock from the host's; audited; only with the shift closed).

Calls the running daemon's admin routes over HTTP. The admin token comes from the environment
(``KKT_ADAPTER_ADMIN_TOKEN``) or ``--token-file``, never from the command line. Without ``--device``
the daemon's only device is used (an error when it has several). Exit codes: 0 done, 1 the daemon or
the device refused or failed, 2 bad usage or no token.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from kkt_adapter.config.secrets import ADMIN_TOKEN_ENV
from kkt_adapter.config.settings import DEFAULT_PORT

ACTIONS = {"open": "open-shift", "close": "close-shift", "x-report": "x-report", "continue": "continue-print"}
DEVICE_ACTIONS = {"set-clock": "set-clock"}
TIMEOUT_S = 130.0


def _parser(prog: str, actions: dict[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Device actions through the daemon (audited).")
    parser.add_argument("action", choices=sorted(actions), help=" / ".join(sorted(actions)))
    add_device_args(parser)
    return parser


def add_device_args(parser: argparse.ArgumentParser) -> None:
    """``--device``, ``--url`` and ``--token-file`` (what :func:`call_device` reads)."""
    parser.add_argument("--device", help="device id (default: the daemon's only device)")
    parser.add_argument("--url", default=f"http://127.0.0.1:{DEFAULT_PORT}", help="the daemon's base URL")
    parser.add_argument("--token-file", type=Path, help="file holding the admin token")


def _token(token_file: Path | None) -> str | None:
    if token_file is not None:
        return token_file.read_text(encoding="utf-8").strip() or None
    return os.environ.get(ADMIN_TOKEN_ENV) or None


def _device(client: httpx.Client, given: str | None) -> str:
    if given:
        return given
    devices = client.get("/v1/devices").raise_for_status().json()["devices"]
    if len(devices) != 1:
        ids = ", ".join(d["device_id"] for d in devices)
        raise ValueError(f"the daemon has several devices ({ids}): pass --device")
    return str(devices[0]["device_id"])


def main(argv: list[str]) -> int:
    """``kkt-adapter shift``: run one action; print the daemon's JSON answer (exit codes: module docstring)."""
    return run(argv, "kkt-adapter shift", ACTIONS)


def run(argv: list[str], prog: str, actions: dict[str, str]) -> int:
    """Parse ``argv`` for one of ``actions`` (word → route segment), call the daemon, print its answer."""
    try:
        args = _parser(prog, actions).parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return call_device(
        args, prog, lambda client, device: client.post(f"/v1/admin/devices/{device}/{actions[args.action]}")
    )


def call_device(args: argparse.Namespace, prog: str, request: Callable[[httpx.Client, str], httpx.Response]) -> int:
    """Read the admin token (``args.token_file`` or the environment), find the device (``args.device`` or the
    daemon's only one), ``request(client, device)`` and print its JSON answer; the exit codes of the module."""
    try:
        token = _token(args.token_file)
    except OSError as exc:
        print(f"{prog}: cannot read the token file: {exc}", file=sys.stderr)
        return 2
    if token is None:
        print(f"{prog}: no admin token (KKT_ADAPTER_ADMIN_TOKEN or --token-file)", file=sys.stderr)
        return 2
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=args.url, headers=headers, timeout=TIMEOUT_S) as client:
            answer = request(client, _device(client, args.device))
    except (httpx.HTTPError, ValueError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(answer.json(), ensure_ascii=False, indent=2))
    return 0 if answer.is_success else 1
