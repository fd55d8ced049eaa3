"""What one OFD exchange came to, as data, and the one pure function that decides it.

::

    RelayOutcome
    ├── Ticket(answer)          check_ticket passed: store the answer for the device to write into the FN
    ├── Retry(reason, answer)   nothing usable: try the same message again after backoff; counts against
    │                           the breaker (no connection, timeout, closed early, an answer that is not a
    │                           valid ticket: header only, bad signature, wrong FN/FD, bad CRC, wrong type)
    └── Refused(reason, answer) a well-formed ticket whose OFD answer code (tag 1022) is not 0: the OFD
                                answered and said no; dead-lettered with the code (replay after fixing)

An answer that is not a valid ticket is never a ``Ticket``: it can never be written into the FN.
"""

from __future__ import annotations

from dataclasses import dataclass

from kkt_adapter.ofd.transport import OfdTransportError
from kkt_adapter.ofd.wire import OfdAnswerCode, OfdWireError, check_ticket


@dataclass(frozen=True)
class Ticket:
    answer: bytes


@dataclass(frozen=True)
class Retry:
    reason: str
    answer: bytes | None = None


@dataclass(frozen=True)
class Refused:
    reason: str
    code: int
    answer: bytes


RelayOutcome = Ticket | Retry | Refused


def judge(result: bytes | OfdTransportError, fn_serial: str, fd_number: int) -> RelayOutcome:
    """Classify one exchange's answer (or its transport failure) for document (``fn_serial``, ``fd_number``)."""
    if isinstance(result, OfdTransportError):
        return Retry(f"transport {result}")
    try:
        check_ticket(result, fn_serial, fd_number)
    except OfdAnswerCode as refused:
        return Refused(f"OFD answer code {refused.code}: {refused.reason}", refused.code, result)
    except OfdWireError as bad:
        return Retry(f"not a valid ticket: {bad}", result)
    return Ticket(result)


def unhealthy(outcome: RelayOutcome) -> bool:
    """For the breaker: only a ``Retry`` says the OFD link is not working."""
    return isinstance(outcome, Retry)
