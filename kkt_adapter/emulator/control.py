"""HTTP control API of the emulator (FastAPI under uvicorn, in a thread of the emulator process).

Endpoints (JSON, 127.0.0.1 by default; no authentication: a test tool, never bind it publicly):

* ``GET  /state``        mode, sub-mode, shift, FN counters, archive, unsent queue, faults, port.
* ``POST /faults``       ``{"paper_out": true, "busy_commands": 2, ...}`` set any switches of
  :class:`~kkt_adapter.emulator.faults.Faults`; ``{"clear": true}`` first resets them. 422 on a bad one.
* ``POST /clock``        ``{"offset_s": 90000}`` sets, ``{"advance_s": 3600}`` moves the device clock.
* ``POST /ofd/ack``      ``{"up_to": 12}`` confirms FD ≤ 12, ``{}`` or ``{"up_to": null}`` confirms all.
* ``POST /port/vanish``  ``{"seconds": 2.5}`` the port disappears and returns after 2.5 s;
  ``{"seconds": null}`` until ``POST /port/restore``.
* ``POST /port/restore`` bring the port back now.
* ``POST /fn/replace``   ``{"fn_serial": "…16 digits…"}`` (or ``{}``: the old serial + 1) a technician replaced
  the FN: new serial, empty archive, FD counter restarts; 409 while a shift is open.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict

from kkt_adapter.emulator.emulator import Emulator

START_TIMEOUT_S = 10.0


class ClockIn(BaseModel):
    """Set (``offset_s``) or move (``advance_s``) the device clock."""

    offset_s: float | None = None
    advance_s: float | None = None


class AckIn(BaseModel):
    """Confirm documents up to this FD number (None: all)."""

    up_to: int | None = None


class VanishIn(BaseModel):
    """How long the port stays away (None: until restored)."""

    seconds: float | None = None


class FnReplaceIn(BaseModel):
    """The new FN's serial (None: the old one + 1)."""

    fn_serial: str | None = None


class FaultsIn(BaseModel):
    """Fault switches by name; ``clear`` resets them first."""

    model_config = ConfigDict(extra="allow")
    clear: bool = False


def create_app(emu: Emulator) -> FastAPI:
    """The control API bound to ``emu``."""
    app = FastAPI(title="kkt-adapter emulator control", docs_url=None, redoc_url=None)

    @app.get("/state")
    def get_state() -> dict[str, Any]:
        return emu.snapshot()

    @app.post("/faults")
    def post_faults(body: FaultsIn) -> dict[str, Any]:
        if body.clear:
            emu.clear_faults()
        try:
            return emu.set_faults(**(body.model_extra or {}))
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc

    @app.post("/clock")
    def post_clock(body: ClockIn) -> dict[str, Any]:
        if body.offset_s is not None:
            emu.set_clock_offset(body.offset_s)
        if body.advance_s is not None:
            emu.advance_clock(body.advance_s)
        state = emu.snapshot()
        return {"offset_s": state["clock_offset_s"], "now": state["now"]}

    @app.post("/ofd/ack")
    def post_ack(body: AckIn) -> dict[str, Any]:
        confirmed = emu.ofd_ack(body.up_to)
        return {"confirmed": confirmed, "unsent": emu.unsent_count}

    @app.post("/port/vanish")
    def post_vanish(body: VanishIn) -> dict[str, Any]:
        emu.vanish_port(body.seconds)
        return {"vanished": True, "seconds": body.seconds}

    @app.post("/port/restore")
    def post_restore() -> dict[str, Any]:
        emu.restore_port()
        return {"restoring": True}

    @app.post("/fn/replace")
    def post_fn_replace(body: FnReplaceIn) -> dict[str, Any]:
        try:
            serial = emu.replace_fn(body.fn_serial)
        except ValueError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        return {"fn_serial": serial, "last_fd": emu.last_fd}

    return app


class ControlServer:
    """uvicorn serving :func:`create_app` in a daemon thread; ``port=0`` picks a free port."""

    def __init__(self, emu: Emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        config = uvicorn.Config(create_app(emu), host=host, port=port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="kkt-emulator-control", daemon=True)
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """Base URL of the API."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> ControlServer:
        """Start serving; return once the socket listens (RuntimeError after 10 s)."""
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("emulator control API did not start")
            time.sleep(0.01)
        sockets = [sock for server in self._server.servers for sock in server.sockets]
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        """Stop serving and join the thread (bounded)."""
        self._server.should_exit = True
        self._thread.join(timeout=START_TIMEOUT_S)
