"""A tiny blocking client of the daemon's admin API for the ``dlq`` and ``sync`` commands.

The admin token comes from ``$KKT_ADAPTER_ADMIN_TOKEN`` or ``--token-file``; never from the command line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import httpx

from kkt_adapter.config.errors import ConfigError
from kkt_adapter.config.secrets import ADMIN_TOKEN_ENV, load_secret
from kkt_adapter.errors import AdapterError

DEFAULT_URL = "http://127.0.0.1:8710"
TIMEOUT_S = 15.0


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    """``--url``, ``--token-file`` and ``--json``."""
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the daemon (default {DEFAULT_URL})")
    parser.add_argument("--token-file", type=Path, default=None, help=f"admin token file (or ${ADMIN_TOKEN_ENV})")
    parser.add_argument("--json", action="store_true", help="print the raw JSON answer")


class AdminError(AdapterError):
    """The daemon could not be reached or refused the request; the message is for a person."""


def call(args: argparse.Namespace, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
    """``method path`` on the daemon with the admin token; the JSON answer, or :class:`AdminError`."""
    try:
        secret = load_secret(ADMIN_TOKEN_ENV, args.token_file)
    except ConfigError as exc:
        raise AdminError(str(exc)) from exc
    if secret is None:
        raise AdminError(f"no admin token: set ${ADMIN_TOKEN_ENV} or pass --token-file")
    headers = {"Authorization": f"Bearer {secret.get_secret_value()}"}
    try:
        response = httpx.request(method, f"{args.url}{path}", headers=headers, params=params, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise AdminError(f"cannot reach the daemon at {args.url}: {exc}") from exc
    if response.status_code >= 400:
        try:
            message = response.json().get("message", response.text)
        except ValueError:
            message = response.text
        raise AdminError(f"{response.status_code}: {message}")
    return response.json()


def run(args: argparse.Namespace, action: Any) -> int:
    """Run ``action(args)`` printing :class:`AdminError` to stderr; 0 on success, 1 on error."""
    try:
        action(args)
    except AdminError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def print_json(value: Any) -> None:
    """Pretty JSON to stdout."""
    print(json.dumps(value, ensure_ascii=False, indent=2))
