"""``kkt-adapter export-sim --port N --db FILE [--control-port M] [--token-file F]``: run the simulator."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from kkt_adapter.export.sim.server import HOST, SimServer, SimThread


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kkt-adapter export-sim", description="HQ export endpoint simulator (test tool)"
    )
    parser.add_argument("--port", type=int, default=8720, help="export API port on 127.0.0.1")
    parser.add_argument("--control-port", type=int, default=None, help="control API port (default port+1)")
    parser.add_argument("--db", type=Path, required=True, help="the simulator's SQLite file")
    parser.add_argument("--token-file", type=Path, default=None, help="require this bearer token")
    return parser


def main(argv: list[str]) -> int:
    """Run until SIGINT or SIGTERM; prints the two URLs once listening."""
    args = _parser().parse_args(argv)
    token = args.token_file.read_text(encoding="utf-8").strip() if args.token_file else None
    control_port = args.control_port if args.control_port is not None else args.port + 1
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    thread = SimThread(SimServer(args.db, args.port, control_port, token))
    thread.start()
    print(f"export simulator: http://{HOST}:{args.port}  control: http://{HOST}:{control_port}/_sim", flush=True)
    while not stop.wait(1.0):
        pass
    thread.stop()
    return 0
