"""Drive a running OFD simulator: its control API, and a subprocess on free ports for tests and tools."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from kkt_adapter.ofd.sim.server import HOST

START_TIMEOUT_S = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class SimControl:
    """The control API of one simulator."""

    def __init__(self, base_url: str) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=10.0)

    def stats(self) -> dict[str, Any]:
        return dict(self._http.get("/_sim/stats").raise_for_status().json())

    def received(self) -> list[dict[str, Any]]:
        return list(self._http.get("/_sim/received").raise_for_status().json())

    def fault(self, fault: str, count: int | None = None, **extra: Any) -> None:
        """Set the fault switch (``none`` clears it)."""
        self._http.put("/_sim/faults", json={"fault": fault, "count": count, **extra}).raise_for_status()

    def clear(self) -> None:
        self._http.delete("/_sim/faults").raise_for_status()

    def reset(self) -> None:
        self._http.post("/_sim/reset").raise_for_status()

    def close(self) -> None:
        self._http.close()


@dataclass
class RunningSim:
    port: int
    control: SimControl


@contextmanager
def spawned(extra_args: list[str] | None = None) -> Iterator[RunningSim]:
    """``kkt-adapter ofd-sim`` as a subprocess on free ports; stopped on exit."""
    port, control_port = free_port(), free_port()
    argv = [sys.executable, "-m", "kkt_adapter", "ofd-sim", "--port", str(port), "--control-port", str(control_port)]
    process = subprocess.Popen([*argv, *(extra_args or [])], stdout=subprocess.DEVNULL)  # noqa: S603 -- our module
    control = SimControl(f"http://{HOST}:{control_port}")
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"ofd-sim exited with {process.returncode}")
            try:
                control.stats()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise TimeoutError("ofd-sim did not start") from None
                time.sleep(0.05)
        yield RunningSim(port, control)
    finally:
        control.close()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
