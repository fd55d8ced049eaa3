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
import sys

import httpx

from kkt_adapter.pipeline.cli_shift import DEVICE_ACTIONS, add_device_args, call_device, run

PROG = "kkt-adapter device"


def _resolve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"{PROG} resolve", description="Decide an unresolved receipt.")
    add_device_args(parser)
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
    return call_device(args, f"{PROG} resolve", lambda client, device: _resolve_call(client, device, args))


def _resolve_call(client: httpx.Client, device: str, args: argparse.Namespace) -> httpx.Response:
    """GET the evidence, or POST the decision in ``args``."""
    path = f"/v1/admin/devices/{device}/resolve"
    if args.key is None:
        return client.get(path)
    body = {"key": args.key, "decision": "not_printed" if args.not_printed else "fiscalized"}
    if args.fiscalized is not None:
        body["fd_number"] = args.fiscalized
    if args.fiscal_sign is not None:
        body["fiscal_sign"] = args.fiscal_sign
    return client.post(path, json=body)


def main(argv: list[str]) -> int:
    """Run one device action; print the daemon's JSON answer."""
    if argv[:1] == ["resolve"]:
        return resolve(argv[1:])
    return run(argv, PROG, DEVICE_ACTIONS)
