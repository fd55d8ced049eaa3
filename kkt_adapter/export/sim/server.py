"""Run the simulator: two uvicorn servers (export port, control port) on one event loop in a thread.

"Down, refuse" stops the export server (its listening socket is closed, keep-alive connections are
dropped) and "up" starts a new one on the same port. :func:`running_sim` is the in-process helper for
tests: it yields the base URL and a :class:`SimControl` client and stops everything on exit.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from kkt_adapter.export.sim.app import SimState, create_control_app, create_export_app
from kkt_adapter.export.sim.db import SimDb

HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _server(app: Any, port: int) -> uvicorn.Server:
    config = uvicorn.Config(app, host=HOST, port=port, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    return uvicorn.Server(config)


class SimServer:
    """The simulator's servers on the current event loop."""

    def __init__(self, db_path: Path, port: int, control_port: int, token: str | None = None) -> None:
        self.port, self.control_port = port, control_port
        self._db_path, self._token = db_path, token
        self._export: uvicorn.Server | None = None
        self._export_task: asyncio.Task[None] | None = None
        self._control: uvicorn.Server | None = None
        self._control_task: asyncio.Task[None] | None = None
        self.state: SimState | None = None

    async def start(self) -> None:
        """Open the database and start both servers; returns when both listen."""
        self.state = SimState(db=SimDb(self._db_path), token=self._token, set_refusing=self._set_refusing)
        self._control = _server(create_control_app(self.state), self.control_port)
        self._control_task = asyncio.create_task(self._control.serve())
        await _until_started(self._control, self._control_task)
        await self._start_export()

    async def _start_export(self) -> None:
        assert self.state is not None  # noqa: S101 -- start() ran
        self._export = _server(create_export_app(self.state), self.port)
        self._export_task = asyncio.create_task(self._export.serve())
        await _until_started(self._export, self._export_task)

    async def _stop_export(self) -> None:
        if self._export is not None and self._export_task is not None:
            self._export.should_exit = True
            await self._export_task
        self._export = self._export_task = None

    async def _set_refusing(self, refusing: bool) -> None:
        if refusing:
            await self._stop_export()
        else:
            await self._start_export()

    async def stop(self) -> None:
        """Stop both servers and close the database."""
        await self._stop_export()
        if self._control is not None and self._control_task is not None:
            self._control.should_exit = True
            await self._control_task
        if self.state is not None:
            self.state.db.close()


async def _until_started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    async with asyncio.timeout(START_TIMEOUT_S):
        # uvicorn exposes only a flag, no event, for "listening"
        while not server.started:
            if task.done():
                raise RuntimeError(f"uvicorn exited during startup on port {server.config.port}")
            await asyncio.sleep(0.01)


class SimThread:
    """A :class:`SimServer` running on its own event loop in a daemon thread."""

    def __init__(self, server: SimServer) -> None:
        self.server = server
        self._loop = asyncio.new_event_loop()
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="export-sim", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as error:  # reported to start()'s caller
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        await self._stopping.wait()
        await self.server.stop()

    def start(self) -> None:
        """Start the thread; returns once the servers listen (raises what startup raised)."""
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise TimeoutError("export simulator did not start")
        if self._error is not None:
            raise RuntimeError("export simulator failed to start") from self._error

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the servers to stop and wait for the thread."""
        if self._stopping is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout_s)


class SimControl:
    """A small blocking client of the control API (``/_sim``)."""

    def __init__(self, control_url: str) -> None:
        self._http = httpx.Client(base_url=control_url, timeout=15.0)

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()

    def _post(self, path: str, body: dict[str, object] | None = None) -> dict[str, Any]:
        response = self._http.post(path, json=body or {})
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def down(self, mode: str = "refuse", retry_after_s: int | None = None) -> None:
        """Go down: ``refuse`` connections or answer ``503`` (with ``Retry-After`` if given)."""
        self._post("/_sim/down", {"mode": mode, "retry_after_s": retry_after_s})

    def up(self) -> None:
        """Come back up (faults other than ``down`` are kept)."""
        self._post("/_sim/up")

    def reset(self) -> None:
        """Clear every fault, every stored document and the counters."""
        self._post("/_sim/reset")

    def set_faults(self, **faults: object) -> dict[str, Any]:
        """Replace all fault switches: any of ``Faults``'s fields; the rest reset to defaults."""
        response = self._http.put("/_sim/faults", json=faults)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def documents(self) -> dict[str, Any]:
        """Totals and the listing: ``documents`` is a list of {id, ticket, received_at, submit_count}."""
        response = self._http.get("/_sim/documents")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stats(self) -> dict[str, Any]:
        """``{"requests", "answers": {status: count}, "documents", "submissions", "repeated"}``."""
        response = self._http.get("/_sim/stats")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


@dataclass(frozen=True)
class RunningSim:
    """What :func:`running_sim` yields."""

    base_url: str
    control_url: str
    control: SimControl


@contextmanager
def running_sim(db_path: Path, token: str | None = None) -> Iterator[RunningSim]:
    """Start the simulator on free loopback ports in a thread; stop it on exit."""
    port, control_port = free_port(), free_port()
    thread = SimThread(SimServer(db_path, port, control_port, token))
    thread.start()
    control = SimControl(f"http://{HOST}:{control_port}")
    try:
        yield RunningSim(f"http://{HOST}:{port}", f"http://{HOST}:{control_port}", control)
    finally:
        control.close()
        thread.stop()


@contextmanager
def spawned_sim(db_path: Path, token_file: Path | None = None) -> Iterator[RunningSim]:
    """Run ``kkt-adapter export-sim`` as a subprocess on free ports (its own CPU, no shared GIL); stop on exit."""
    port, control_port = free_port(), free_port()
    argv = [sys.executable, "-m", "kkt_adapter", "export-sim", "--port", str(port)]
    argv += ["--control-port", str(control_port), "--db", str(db_path)]
    if token_file is not None:
        argv += ["--token-file", str(token_file)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)  # noqa: S603 -- our own module
    control = SimControl(f"http://{HOST}:{control_port}")
    try:
        _wait_listening(process, control)
        yield RunningSim(f"http://{HOST}:{port}", f"http://{HOST}:{control_port}", control)
    finally:
        control.close()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_listening(process: subprocess.Popen[bytes], control: SimControl) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S * 2
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"export-sim exited with {process.returncode}")
        try:
            control.stats()
        except httpx.TransportError:
            time.sleep(0.05)
            continue
        return
    raise TimeoutError("export-sim did not start")
