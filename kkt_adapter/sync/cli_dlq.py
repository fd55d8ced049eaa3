"""``kkt-adapter dlq list|replay KEY|replay-all [--include-acknowledged]|ack KEY|resend KEY``: the dead-letter
queue, and sending a delivered document the export endpoint does not hold again, through the daemon's admin API."""

from __future__ import annotations

import argparse

from kkt_adapter.sync.admin_http import add_connection_args, call, print_json, run


def _list(args: argparse.Namespace) -> None:
    answer = call(args, "GET", "/v1/admin/dlq", {"limit": args.limit, "offset": args.offset})
    if args.json:
        print_json(answer)
        return
    print(f"{answer['total']} dead document(s)")
    for item in answer["items"]:
        ack = " (acknowledged)" if item["acknowledged"] else ""
        print(f"{item['key']}  {item['document_id']}  attempts={item['sync_attempts']}{ack}")
        print(f"    reason: {item['reason']}")
        if item["last_response"]:
            print(f"    last response: {item['last_response'][:200]}")


def _replay(args: argparse.Namespace) -> None:
    answer = call(args, "POST", f"/v1/admin/dlq/{args.key}/replay")
    print_json(answer) if args.json else print(f"replayed {answer['replayed']} document(s)")


def _replay_all(args: argparse.Namespace) -> None:
    params = {"include_acknowledged": "true"} if args.include_acknowledged else None
    answer = call(args, "POST", "/v1/admin/dlq/replay-all", params)
    print_json(answer) if args.json else print(f"replayed {answer['replayed']} document(s)")


def _resend(args: argparse.Namespace) -> None:
    answer = call(args, "POST", f"/v1/admin/receipts/{args.key}/resend")
    print_json(answer) if args.json else print(f"resent {answer['resent']} (same document id)")


def _ack(args: argparse.Namespace) -> None:
    answer = call(args, "POST", f"/v1/admin/dlq/{args.key}/ack")
    print_json(answer) if args.json else print(f"acknowledged {answer['acknowledged']}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kkt-adapter dlq", description="the HQ export's dead-letter queue")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="dead documents with reason and last response")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--offset", type=int, default=0)
    listing.set_defaults(action=_list)
    replay = commands.add_parser("replay", help="send one document again (same id)")
    replay.add_argument("key")
    replay.set_defaults(action=_replay)
    replay_all = commands.add_parser("replay-all", help="send every dead document again (not acknowledged ones)")
    replay_all.add_argument("--include-acknowledged", action="store_true", help="also the acknowledged ones")
    replay_all.set_defaults(action=_replay_all)
    ack = commands.add_parser("ack", help="acknowledge a dead document")
    ack.add_argument("key")
    ack.set_defaults(action=_ack)
    resend = commands.add_parser(
        "resend", help="send a delivered document the export endpoint does not hold again (same id)"
    )
    resend.add_argument("key")
    resend.set_defaults(action=_resend)
    for sub in (listing, replay, ack, replay_all, resend):
        add_connection_args(sub)
    return parser


def main(argv: list[str]) -> int:
    """Run one DLQ command; 0 on success, 1 if the daemon refused or is unreachable."""
    args = _parser().parse_args(argv)
    return run(args, args.action)
