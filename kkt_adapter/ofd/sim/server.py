"""The simulator's TCP server (one message, one answer per connection) and its HTTP control API.

Per connection: read the 30-byte session header, the body it announces, check both headers and the
CRC (never the body), count the document by (FN, FD), answer one ticket (or what the fault switch says)
and close. A message that fails a check is counted as rejected and the connection closed unanswered.

Control API (``/_sim``): ``GET stats``, ``GET received`` (one row per (FN, FD)), ``PUT faults`` (a
:class:`~kkt_adapter.ofd.sim.faults.Faults` body), ``DELETE faults``, ``POST reset``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kkt_adapter.ofd.sim import frames
from kkt_adapter.ofd.sim.faults import Fault, Faults, answer

HOST = "127.0.0.1"
READ_TIMEOUT_S = 30.0


@dataclass
class Seen:
    """One document as the simulator saw it: how often it arrived and how often a clean ticket went back."""

    fn_serial: str
    fd_number: int
    doc_type: int
    received: int = 0
    tickets: int = 0
    first_at: float = 0.0
    last_at: float = 0.0


@dataclass
class SimStats:
    connections: int = 0
    messages: int = 0
    rejected: int = 0
    last_rejection: str | None = None
    answers: Counter[str] = field(default_factory=Counter)


class OfdSim:
    """The TCP server and its control app on one event loop."""

    def __init__(
        self,
        port: int,
        control_port: int,
        *,
        host: str = HOST,
        mac_key: bytes = frames.DEFAULT_MAC_KEY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host, self.port, self.control_port = host, port, control_port
        self.mac_key, self.clock = mac_key, clock
        self.faults = Faults()
        self.ledger: dict[tuple[str, int], Seen] = {}
        self.stats = SimStats()
        self._tcp: asyncio.Server | None = None
        self._control: uvicorn.Server | None = None
        self._control_task: asyncio.Task[None] | None = None
        self._open: set[asyncio.Task[None]] = set()

    # --- lifecycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on both ports; returns once both accept connections."""
        await self._listen()
        config = uvicorn.Config(self.control_app(), host=self.host, port=self.control_port, log_level="warning")
        self._control = uvicorn.Server(config)
        self._control_task = asyncio.create_task(self._control.serve())
        while not self._control.started:
            if self._control_task.done():
                raise RuntimeError(f"control API could not start on port {self.control_port}")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        await self._unlisten()
        for task in list(self._open):
            task.cancel()
        if self._control is not None and self._control_task is not None:
            self._control.should_exit = True
            await self._control_task

    async def _listen(self) -> None:
        if self._tcp is None:
            self._tcp = await asyncio.start_server(self._connection, self.host, self.port, reuse_address=True)

    async def _unlisten(self) -> None:
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
            self._tcp = None

    async def set_faults(self, faults: Faults) -> None:
        """Replace the switch; REFUSE closes the port, anything else opens it again."""
        self.faults = faults
        if faults.fault is Fault.REFUSE:
            await self._unlisten()
        else:
            await self._listen()

    # --- one connection ----------------------------------------------------------------------------------

    def _take_fault(self) -> Faults:
        current = self.faults
        if current.count is not None:
            left = current.count - 1
            after = current.model_copy(update={"count": left}) if left > 0 else Faults(delay_s=current.delay_s)
            self.faults = after
        return current

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._open.add(task)
        self.stats.connections += 1
        try:
            await self._serve_one(reader, writer)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            if task is not None:
                self._open.discard(task)
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with asyncio.timeout(READ_TIMEOUT_S):
            head = await reader.readexactly(frames.SESSION_LEN)
            try:
                body = await reader.readexactly(frames.read_header(head))
                msg = frames.read_message(head, body)
            except frames.BadMessage as error:
                self.stats.rejected += 1
                self.stats.last_rejection = str(error)
                return
        self.stats.messages += 1
        now = self.clock()
        seen = self.ledger.setdefault((msg.fn_serial, msg.fd_number), Seen(msg.fn_serial, msg.fd_number, msg.doc_type))
        seen.received += 1
        seen.first_at = seen.first_at or now
        seen.last_at = now
        switch = self._take_fault()
        fault = switch.fault
        self.stats.answers[fault.value] += 1
        if fault is Fault.STALL:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(switch.stall_s):
                    await reader.read()  # until the client gives up and closes
            return
        if switch.delay_s > 0:
            await asyncio.sleep(switch.delay_s)
        data = answer(fault, msg, int(now), self.mac_key, switch.ofd_code)
        if fault is Fault.CLOSE_MID_BODY:
            writer.write(data[: frames.SESSION_LEN + (len(data) - frames.SESSION_LEN) // 2])
            await writer.drain()
            return
        if fault is Fault.SPLIT:
            for index in range(len(data)):
                writer.write(data[index : index + 1])
                await writer.drain()
                await asyncio.sleep(0)
        else:
            writer.write(data)
            await writer.drain()
        if fault in (Fault.NONE, Fault.SPLIT):
            seen.tickets += 1

    # --- control API -------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, object]:
        """Counters, the switch and the ledger's totals, JSON-ready."""
        stats = asdict(self.stats)
        stats["answers"] = dict(self.stats.answers)
        return {
            **stats,
            "faults": self.faults.model_dump(mode="json"),
            "listening": self._tcp is not None,
            "documents": len(self.ledger),
            "repeats": sum(seen.received - 1 for seen in self.ledger.values()),
        }

    def control_app(self) -> Starlette:
        async def stats(_: Request) -> JSONResponse:
            return JSONResponse(self.snapshot())

        async def received(_: Request) -> JSONResponse:
            rows = sorted(self.ledger.values(), key=lambda s: (s.fn_serial, s.fd_number))
            return JSONResponse([asdict(row) for row in rows])

        async def put_faults(request: Request) -> JSONResponse:
            try:
                faults = Faults.model_validate(await request.json())
            except (ValidationError, ValueError) as error:
                return JSONResponse({"error": str(error)}, status_code=422)
            await self.set_faults(faults)
            return JSONResponse(self.faults.model_dump(mode="json"))

        async def clear_faults(_: Request) -> JSONResponse:
            await self.set_faults(Faults())
            return JSONResponse(self.faults.model_dump(mode="json"))

        async def reset(_: Request) -> JSONResponse:
            self.ledger.clear()
            self.stats = SimStats()
            return JSONResponse(self.snapshot())

        return Starlette(
            routes=[
                Route("/_sim/stats", stats),
                Route("/_sim/received", received),
                Route("/_sim/faults", put_faults, methods=["PUT"]),
                Route("/_sim/faults", clear_faults, methods=["DELETE"]),
                Route("/_sim/reset", reset, methods=["POST"]),
            ]
        )
