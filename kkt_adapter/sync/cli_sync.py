"""``kkt-adapter sync pause|resume|status``: the pause switch of the OFD relay and the HQ export (admin API)."""

from __future__ import annotations

import argparse

from kkt_adapter.sync.admin_http import add_connection_args, call, print_json, run


def _switch(args: argparse.Namespace) -> None:
    answer = call(args, "POST", f"/v1/admin/sync/{args.command}")
    print_json(answer) if args.json else print("sync paused" if answer["paused"] else "sync resumed")


def _status(args: argparse.Namespace) -> None:
    answer = call(args, "GET", "/v1/admin/sync")
    if args.json:
        print_json(answer)
        return
    print(f"paused: {'yes' if answer['paused'] else 'no'}")
    counts = answer["counts"]
    print(f"fiscalized (to send): {counts.get('fiscalized', 0)}  delivered: {counts.get('delivered', 0)}", end="")
    print(f"  dead: {counts.get('dead', 0)}")
    worker = answer["worker"]
    if worker is None:
        print("worker: not running")
        return
    print(f"breaker: {worker['breaker']} (failures in a row: {worker['fail_counter']})")
    stats = worker["stats"]
    print(f"calls: {stats['calls']}  delivered: {stats['delivered']}  retried: {stats['retried']}", end="")
    print(f"  dead: {stats['dead']}  last error: {stats['last_error'] or '-'}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kkt-adapter sync", description="pause or resume the OFD relay and the HQ export"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (("pause", "stop sending to the OFD and the HQ export"), ("resume", "send again")):
        sub = commands.add_parser(name, help=helptext)
        sub.set_defaults(action=_switch)
        add_connection_args(sub)
    status = commands.add_parser("status", help="pause switch, counts, breaker")
    status.set_defaults(action=_status)
    add_connection_args(status)
    return parser


def main(argv: list[str]) -> int:
    """Run one sync command; 0 on success, 1 if the daemon refused or is unreachable."""
    args = _parser().parse_args(argv)
    return run(args, args.action)
