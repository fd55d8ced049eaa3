"""``kkt-adapter emulator``: run the emulated Shtrih-M KKT and its control API until SIGTERM/SIGINT.

Prints two lines on start: ``port: <link path>`` and ``control: <URL>``. Exit code 0 on a signal,
2 on bad arguments, 1 if the control API cannot start.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from kkt_adapter.emulator.control import ControlServer
from kkt_adapter.emulator.emulator import Emulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kkt-adapter emulator",
        description="Emulated Shtrih-M KKT on a pseudo-terminal (a test and demo tool, not a certified device).",
    )
    parser.add_argument("--link", required=True, help="symlink path to publish the pty at, e.g. /tmp/kkt0")
    parser.add_argument("--state", required=True, help="JSON file with the device and FN state")
    parser.add_argument("--control-port", type=int, default=0, help="control API port (0: any free port)")
    parser.add_argument("--control-host", default="127.0.0.1", help="control API address")
    parser.add_argument("--baud-delay", action="store_true", help="pace bytes at the client's baud rate")
    parser.add_argument("--print-delay-ms", type=int, default=0, help="delay per printed line")
    parser.add_argument("--no-fsync", action="store_true", help="do not fsync the state file (benchmarks)")
    return parser


def main(argv: list[str]) -> int:
    """Run until SIGTERM or SIGINT; see the module docstring for output and exit codes."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    emu = Emulator(
        args.link,
        args.state,
        baud_delay=args.baud_delay,
        print_delay_ms=args.print_delay_ms,
        fsync=not args.no_fsync,
    )
    emu.start()
    print(f"port: {emu.path}", flush=True)  # a separate write: readers may take the lines one by one
    control = ControlServer(emu, args.control_host, args.control_port)
    try:
        control.start()
    except RuntimeError as exc:
        print(f"kkt-adapter emulator: {exc}", file=sys.stderr)
        emu.stop()
        return 1
    print(f"control: {control.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        control.stop()
        emu.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
