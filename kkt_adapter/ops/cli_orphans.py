"""``kkt-adapter orphans move DEVICE --to ID | reject DEVICE``: receipts of a device removed from the
configuration, through the daemon's admin API (audited). Exit 0 done, 1 refused or unreachable."""

from __future__ import annotations

import argparse

from kkt_adapter.sync.admin_http import add_connection_args, call, print_json, run


def _move(args: argparse.Namespace) -> None:
    answer = call(args, "POST", f"/v1/admin/orphans/{args.device}/move", {"to": args.to})
    print_json(answer) if args.json else print(f"moved {answer['moved']} receipt(s) to {answer['to_device']}")


def _reject(args: argparse.Namespace) -> None:
    answer = call(args, "POST", f"/v1/admin/orphans/{args.device}/reject")
    print_json(answer) if args.json else print(f"rejected {answer['rejected']} receipt(s)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kkt-adapter orphans", description="Receipts of a removed device")
    commands = parser.add_subparsers(dest="command", required=True)
    move = commands.add_parser("move", help="give its accepted receipts to a configured device")
    move.add_argument("device", help="the removed device's id (as health names it)")
    move.add_argument("--to", required=True, help="a configured device id")
    move.set_defaults(action=_move)
    reject = commands.add_parser("reject", help="reject its accepted receipts (never printed)")
    reject.add_argument("device", help="the removed device's id (as health names it)")
    reject.set_defaults(action=_reject)
    for sub in (move, reject):
        add_connection_args(sub)
    return parser


def main(argv: list[str]) -> int:
    """Run one orphans command (see the module docstring)."""
    args = _parser().parse_args(argv)
    return run(args, args.action)
