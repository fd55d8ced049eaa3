"""``kkt-adapter ofd-sim --port N [--control-port M] [--mac-key-hex HEX]``: run the OFD simulator."""

from __future__ import annotations

import argparse
import asyncio
import signal

from kkt_adapter.ofd.sim import frames
from kkt_adapter.ofd.sim.server import HOST, OfdSim


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kkt-adapter ofd-sim", description="OFD simulator, TCP (test tool)")
    parser.add_argument("--port", type=int, default=8720, help="OFD TCP port on 127.0.0.1")
    parser.add_argument("--control-port", type=int, default=None, help="control API port (default port+1)")
    parser.add_argument(
        "--mac-key-hex", default=frames.DEFAULT_MAC_KEY.hex(), help="the emulated FN's test MAC key (docs/emulator.md)"
    )
    return parser


async def _run(sim: OfdSim) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await sim.start()
    print(f"OFD simulator: tcp://{HOST}:{sim.port}  control: http://{HOST}:{sim.control_port}/_sim/stats", flush=True)
    await stop.wait()
    await sim.stop()


def main(argv: list[str]) -> int:
    """Run until SIGINT or SIGTERM."""
    args = _parser().parse_args(argv)
    control_port = args.control_port if args.control_port is not None else args.port + 1
    asyncio.run(_run(OfdSim(args.port, control_port, mac_key=bytes.fromhex(args.mac_key_hex))))
    return 0
