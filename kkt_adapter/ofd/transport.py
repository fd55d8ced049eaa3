"""The TCP leg to the OFD: one message per connection, the answer read by its own length.

As the vendor's driver does it (shtrih-m/javapos_shtrih ``SMFiscalPrinterImpl.sendFDODocuments``; yandex/ofd
``example/mock_ofd.py`` closes after one answer): connect, send the FN's message unchanged, read the
30-byte session header, take the body length from its bytes 24–25 (little-endian), read that many
bytes, close. Plain TCP, no TLS. Every wait is bounded: ``connect_timeout_s`` for the connection,
``read_timeout_s`` for the whole exchange after it (send and answer).

Errors (all retryable; the answer's *content* is judged by :func:`kkt_adapter.ofd.wire.check_ticket`)::

    OfdTransportError(stage, reason)   stage: connect | send | read
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
from dataclasses import dataclass

from kkt_adapter.errors import AdapterError

HEADER_LEN = 30
BODY_LENGTH_AT = 24


class Stage(enum.StrEnum):
    """Where an exchange failed."""

    CONNECT = "connect"
    SEND = "send"
    READ = "read"


class OfdTransportError(AdapterError):
    """The exchange did not complete: nothing usable was received. Retry later."""

    def __init__(self, stage: Stage, reason: str) -> None:
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason


@dataclass(frozen=True)
class OfdEndpoint:
    """Where the OFD listens and how long to wait for it."""

    host: str
    port: int
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


async def exchange(endpoint: OfdEndpoint, message: bytes) -> bytes:
    """Send ``message`` on a new connection and return the OFD's whole answer (header + body), unchecked.

    Raises :class:`OfdTransportError` when the connection cannot be made in ``connect_timeout_s``, when
    the answer is not complete within ``read_timeout_s``, or when the OFD closes before it is complete.
    A header announcing 0 body bytes is returned as it is (30 bytes)."""
    try:
        async with asyncio.timeout(endpoint.connect_timeout_s):
            reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
    except TimeoutError:
        raise OfdTransportError(
            Stage.CONNECT, f"no connection to {endpoint} in {endpoint.connect_timeout_s:g} s"
        ) from None
    except OSError as error:
        raise OfdTransportError(Stage.CONNECT, f"{endpoint}: {error.strerror or error}") from None
    try:
        _no_delay(writer)
        async with asyncio.timeout(endpoint.read_timeout_s):
            return await _send_and_read(reader, writer, message)
    except TimeoutError:
        raise OfdTransportError(
            Stage.READ, f"no complete answer from {endpoint} in {endpoint.read_timeout_s:g} s"
        ) from None
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(1.0):
                await writer.wait_closed()


async def _send_and_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, message: bytes) -> bytes:
    try:
        writer.write(message)
        await writer.drain()
    except OSError as error:
        raise OfdTransportError(Stage.SEND, f"connection lost while sending: {error.strerror or error}") from None
    header = await _read_exactly(reader, HEADER_LEN, "the session header")
    body_length = int.from_bytes(header[BODY_LENGTH_AT : BODY_LENGTH_AT + 2], "little")
    body = await _read_exactly(reader, body_length, f"a {body_length}-byte body") if body_length else b""
    return header + body


async def _read_exactly(reader: asyncio.StreamReader, count: int, what: str) -> bytes:
    try:
        return await reader.readexactly(count)
    except asyncio.IncompleteReadError as error:
        got = len(error.partial)
        raise OfdTransportError(Stage.READ, f"the OFD closed after {got} of {count} bytes of {what}") from None
    except OSError as error:
        raise OfdTransportError(Stage.READ, f"connection lost reading {what}: {error.strerror or error}") from None


def _no_delay(writer: asyncio.StreamWriter) -> None:
    """TCP_NODELAY, as the vendor's driver sets it: the message goes out at once."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
