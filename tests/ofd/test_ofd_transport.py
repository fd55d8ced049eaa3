"""The TCP leg against real loopback servers: one message per connection, the answer read by its length.

Framing source: shtrih-m/javapos_shtrih ``SMFiscalPrinterImpl.sendFDODocuments`` (reads 30 bytes, the body
length from bytes 24–25 LE, then the body); the answer bytes are Taxcom's captured ticket (tests/ofd/ofd_golden.py).
"""

from __future__ import annotations

import asyncio
import functools
import socket
import struct
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, ParamSpec

import pytest
from ofd_golden import FN_MESSAGE_FD1, TAXCOM_TICKET_FD2

from kkt_adapter.ofd.transport import OfdEndpoint, OfdTransportError, Stage, exchange

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
ANSWER = (
    struct.pack("<4s2s2s16sHHH", bytes.fromhex("2a08410a"), bytes.fromhex("81a2"), bytes.fromhex("0120"),
                b"9999078902013267", len(TAXCOM_TICKET_FD2), 0x14, 0)
    + TAXCOM_TICKET_FD2
)  # fmt: skip


P = ParamSpec("P")


def _sync(case: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async test body on a fresh event loop (no pytest-asyncio here)."""

    @functools.wraps(case)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        asyncio.run(case(*args, **kwargs))

    return run


async def _serve(handler: Handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _run(handler: Handler, **timeouts: float) -> bytes:
    server, port = await _serve(handler)
    async with server:
        return await exchange(OfdEndpoint("127.0.0.1", port, **timeouts), FN_MESSAGE_FD1)


def _answering(answer: bytes, chunk: int = 0, received: list[bytes] | None = None) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readexactly(30)
        body = await reader.readexactly(int.from_bytes(head[24:26], "little"))
        if received is not None:
            received.append(head + body)
        for start in range(0, len(answer), chunk or len(answer) or 1):
            writer.write(answer[start : start + (chunk or len(answer))])
            await writer.drain()
        writer.close()

    return handler


@_sync
async def test_message_goes_out_unchanged_and_the_whole_answer_comes_back() -> None:
    """The server receives the FN's bytes as they are; the client returns header + body."""
    received: list[bytes] = []
    assert await _run(_answering(ANSWER, received=received)) == ANSWER
    assert received == [FN_MESSAGE_FD1]


@_sync
async def test_answer_written_one_byte_at_a_time_is_reassembled() -> None:
    """An answer split into 1-byte writes reads the same."""
    assert await _run(_answering(ANSWER, chunk=1)) == ANSWER


@_sync
async def test_header_only_answer_is_returned_as_30_bytes() -> None:
    """A header announcing 0 body bytes ends the exchange (the caller judges it)."""
    header = ANSWER[:24] + b"\x00\x00" + ANSWER[26:30]
    assert await _run(_answering(header)) == header


@_sync
async def test_close_in_mid_body_is_a_read_error() -> None:
    """The OFD closing before the announced body is complete is a read failure naming the counts."""
    with pytest.raises(OfdTransportError) as caught:
        await _run(_answering(ANSWER[:60]))
    assert caught.value.stage is Stage.READ
    assert "30 of 119" in caught.value.reason


@_sync
async def test_close_before_the_header_is_a_read_error() -> None:
    """The OFD closing with nothing sent back is a read failure."""
    with pytest.raises(OfdTransportError) as caught:
        await _run(_answering(b""))
    assert caught.value.stage is Stage.READ


@_sync
async def test_stalled_answer_times_out() -> None:
    """An OFD that accepts and never answers is given up after read_timeout_s."""
    release = asyncio.Event()

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    with pytest.raises(OfdTransportError) as caught:
        await _run(stall, read_timeout_s=0.2)
    release.set()
    assert caught.value.stage is Stage.READ
    assert "0.2 s" in caught.value.reason


@_sync
async def test_refused_connection_is_a_connect_error() -> None:
    """Nothing listening on the port is a connect failure."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OfdTransportError) as caught:
        await exchange(OfdEndpoint("127.0.0.1", port), FN_MESSAGE_FD1)
    assert caught.value.stage is Stage.CONNECT


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A listening socket that never accepts, its backlog filled: the kernel drops further SYNs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


@_sync
async def test_connection_that_never_completes_times_out(full_backlog: int) -> None:
    """A connect that hangs (SYN dropped) is given up after connect_timeout_s."""
    with pytest.raises(OfdTransportError) as caught:
        await exchange(OfdEndpoint("127.0.0.1", full_backlog, connect_timeout_s=0.3), FN_MESSAGE_FD1)
    assert caught.value.stage is Stage.CONNECT
    assert "0.3 s" in caught.value.reason
