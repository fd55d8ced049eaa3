"""``kkt-adapter ofd status|dlq|replay FN FD|ack FN FD``: the OFD relay through the daemon's admin API.

``dlq`` lists the messages the relay dead-lettered (the OFD's answer was not a ticket, or said no) and those
the FN refused; ``replay`` sends one to the OFD again for a fresh answer; ``ack`` silences its alarm.
"""

from __future__ import annotations

import argparse

from kkt_adapter.sync.admin_http import add_connection_args, call, print_json, run


def _status(args: argparse.Namespace) -> None:
    answer = call(args, "GET", "/v1/admin/ofd")
    if args.json:
        print_json(answer)
        return
    relay = answer["relay"]
    breaker = relay["breaker"] if relay else "not running"
    paused = ", PAUSED" if answer["paused"] else ""
    counts = ", ".join(f"{state} {count}" for state, count in answer["outbox"].items())
    print(f"mode {answer['mode']}{paused}; relay breaker {breaker}; outbox: {counts}")


def _dlq(args: argparse.Namespace) -> None:
    answer = call(args, "GET", "/v1/admin/ofd/dlq", {"limit": args.limit})
    if args.json:
        print_json(answer)
        return
    print(f"{answer['total']} OFD message(s) dead or refused")
    for item in answer["items"]:
        ack = " (acknowledged)" if item["acknowledged"] else ""
        code = f" FN code {item['fn_code']:02X}h" if item["fn_code"] is not None else ""
        print(f"FN {item['fn_serial']} FD {item['fd_number']}  {item['state']}{code}  attempts={item['attempts']}{ack}")
        print(f"    reason: {item['reason']}")


def _replay(args: argparse.Namespace) -> None:
    answer = call(args, "POST", f"/v1/admin/ofd/dlq/{args.fn}/{args.fd}/replay")
    print_json(answer) if args.json else print(f"FN {args.fn} FD {args.fd} goes to the OFD again")


def _ack(args: argparse.Namespace) -> None:
    answer = call(args, "POST", f"/v1/admin/ofd/dlq/{args.fn}/{args.fd}/ack")
    print_json(answer) if args.json else print(f"FN {args.fn} FD {args.fd} acknowledged")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kkt-adapter ofd", description="the FN↔OFD relay")
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", help="mode, pause switch, breaker, outbox counts")
    status.set_defaults(action=_status)
    dlq = commands.add_parser("dlq", help="dead and FN-refused messages with their reasons")
    dlq.add_argument("--limit", type=int, default=100)
    dlq.set_defaults(action=_dlq)
    subs = [status, dlq]
    for name, action, text in (("replay", _replay, "send one message to the OFD again"),
                               ("ack", _ack, "acknowledge a dead or refused message")):  # fmt: skip
        sub = commands.add_parser(name, help=text)
        sub.add_argument("fn", help="FN serial, 16 digits")
        sub.add_argument("fd", type=int, help="FD number")
        sub.set_defaults(action=action)
        subs.append(sub)
    for sub in subs:
        add_connection_args(sub)
    return parser


def main(argv: list[str]) -> int:
    """Run one command; 0 on success, 1 if the daemon refused or is unreachable."""
    args = _parser().parse_args(argv)
    return run(args, args.action)
