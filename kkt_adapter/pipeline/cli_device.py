"""``kkt-adapter device set-clock|resolve [--device ID] [--url URL] [--token-file PATH]``, through the daemon.

``set-clock``: the device's clock from the host's (audited; refused while the shift is open).
``resolve``: without a decision, print the evidence of a halted queue (each unresolved receipt, the FN's
documents after its intent); with ``--key K`` and ``--fiscalized FD`` or ``--not-printed``, apply the
operator's decision (audited; the daemon refuses an FD that is not a receipt of the same sum). A receipt
printing on an FN replaced since needs ``--fiscal-sign FP`` with ``--fiscalized`` (its FD is on the old FN).
Exit codes as ``kkt-adapter shift``: 0 done, 1 refused or failed, 2 bad usage or no token.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx

from kkt_adapter.config.settings import DEFAULT_PORT
from kkt_adapter.pipeline.cli_shift import DEVICE_ACTIONS, TIMEOUT_S, _device, _token, run

PROG = "kkt-adapter device"


def _resolve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"{PROG} resolve", description="Decide an unresolved receipt.")
    parser.add_argument("--device", help="device id (default: the daemon's only device)")
    parser.add_argument("--url", default=f"http://127.0.0.1:{DEFAULT_PORT}", help="the daemon's base URL")
    parser.add_argument("--token-file", type=Path, help="file holding the admin token")
    parser.add_argument("--key", help="the unresolved receipt (from the evidence)")
    decision = parser.add_mutually_exclusive_group()
    decision.add_argument("--fiscalized", type=int, metavar="FD", help="the FN document FD is this receipt")
    decision.add_argument("--not-printed", action="store_true", help="it was not printed: print it again")
    parser.add_argument(
        "--fiscal-sign", type=int, metavar="FP", help="with --fiscalized, for a receipt on a replaced FN: its ФП"
    )
    return parser


def resolve(argv: list[str]) -> int:
    """Print the evidence, or apply ``--fiscalized FD`` / ``--not-printed`` for ``--key``."""
    try:
        args = _resolve_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    deciding = args.fiscalized is not None or args.not_printed
    if deciding != (args.key is not None):
        print(f"{PROG} resolve: a decision needs --key, and --key needs a decision", file=sys.stderr)
        return 2
    try:
        token = _token(args.token_file)
    except OSError as exc:
        print(f"{PROG} resolve: cannot read the token file: {exc}", file=sys.stderr)
        return 2
    if token is None:
        print(f"{PROG} resolve: no admin token (KKT_ADAPTER_ADMIN_TOKEN or --token-file)", file=sys.stderr)
        return 2
    try:
        with httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT_S) as c:
            path = f"/v1/admin/devices/{_device(c, args.device)}/resolve"
            if not deciding:
                answer = c.get(path)
            else:
                body = {"key": args.key, "decision": "not_printed" if args.not_printed else "fiscalized"}
                if args.fiscalized is not None:
                    body["fd_number"] = args.fiscalized
                if args.fiscal_sign is not None:
                    body["fiscal_sign"] = args.fiscal_sign
                answer = c.post(path, json=body)
    except (httpx.HTTPError, ValueError) as exc:
        print(f"{PROG} resolve: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(answer.json(), ensure_ascii=False, indent=2))
    return 0 if answer.is_success else 1


def main(argv: list[str]) -> int:
    """Run one device action; print the daemon's JSON answer."""
    if argv[:1] == ["resolve"]:
        return resolve(argv[1:])
    return run(argv, PROG, DEVICE_ACTIONS)
