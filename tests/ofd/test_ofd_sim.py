"""The OFD simulator over real TCP (``kkt-adapter ofd-sim`` as a subprocess), driven by our client.

The message sent is the real FN message captured in Mcublog/ofd ``tests/emu_test.py`` (tests/ofd/ofd_golden.py):
the simulator must read it as a real OFD would, headers and CRC only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from ofd_golden import FN_MESSAGE_FD1

from kkt_adapter.ofd.sim.control import RunningSim, spawned
from kkt_adapter.ofd.transport import OfdEndpoint, OfdTransportError, Stage, exchange
from kkt_adapter.ofd.wire import OfdAnswerCode, OfdWireError, WireFault, check_ticket

FN = "9999078902013267"


@pytest.fixture(scope="module")
def module_sim() -> Iterator[RunningSim]:
    with spawned() as sim:
        yield sim


@pytest.fixture
def sim(module_sim: RunningSim) -> RunningSim:
    module_sim.control.clear()
    module_sim.control.reset()
    return module_sim


def send(sim: RunningSim, message: bytes = FN_MESSAGE_FD1, read_timeout_s: float = 5.0) -> bytes:
    return asyncio.run(exchange(OfdEndpoint("127.0.0.1", sim.port, 2.0, read_timeout_s), message))


def test_a_real_fn_message_gets_a_valid_ticket_and_is_counted(sim: RunningSim) -> None:
    """The captured FN message is answered with a ticket for FN 9999078902013267, FD 1, and listed once."""
    check_ticket(send(sim), FN, 1)
    [row] = sim.control.received()
    assert (row["fn_serial"], row["fd_number"], row["doc_type"], row["received"], row["tickets"]) == (FN, 1, 11, 1, 1)


def test_a_repeated_message_is_counted_again(sim: RunningSim) -> None:
    """The same (FN, FD) twice is one document received twice."""
    send(sim)
    send(sim)
    assert [(r["received"], r["tickets"]) for r in sim.control.received()] == [(2, 2)]
    assert sim.control.stats()["repeats"] == 1


def test_a_message_with_a_bad_crc_is_rejected_unanswered(sim: RunningSim) -> None:
    """One changed body byte fails the container CRC: no answer, counted as rejected, not listed."""
    broken = bytearray(FN_MESSAGE_FD1)
    broken[-20] ^= 0x01
    with pytest.raises(OfdTransportError) as caught:
        send(sim, bytes(broken))
    assert caught.value.stage is Stage.READ
    assert sim.control.stats()["rejected"] == 1
    assert sim.control.received() == []


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("header_only", WireFault.HEADER_ONLY),
        ("bad_signature", WireFault.SIGNATURE),
        ("wrong_fn", WireFault.FN_SERIAL),
        ("wrong_fd", WireFault.FD_NUMBER),
        ("bad_crc", WireFault.CRC),
        ("ofd_code", WireFault.OFD_CODE),
    ],
)
def test_a_bad_answer_fault_fails_the_hosts_ticket_check(sim: RunningSim, fault: str, expected: WireFault) -> None:
    """Each answer fault gives an answer check_ticket refuses for that very reason."""
    sim.control.fault(fault)
    with pytest.raises(OfdWireError) as caught:
        check_ticket(send(sim), FN, 1)
    assert caught.value.fault is expected


def test_the_ofd_code_fault_carries_its_code(sim: RunningSim) -> None:
    """The answer-code fault puts the configured code in tag 1022."""
    sim.control.fault("ofd_code", ofd_code=9)
    with pytest.raises(OfdAnswerCode) as caught:
        check_ticket(send(sim), FN, 1)
    assert caught.value.code == 9


def test_a_bad_mac_passes_the_host_and_differs_from_the_clean_ticket(sim: RunningSim) -> None:
    """A wrong MAC keeps a right CRC (only the FN can tell): the bytes differ from the clean ticket in the MAC."""
    clean = send(sim)
    sim.control.fault("bad_mac")
    bad = send(sim)
    check_ticket(bad, FN, 1)
    assert len(bad) == len(clean)
    assert bad[-8:-2] != clean[-8:-2]


def test_a_split_answer_is_a_valid_ticket(sim: RunningSim) -> None:
    """An answer written one byte at a time is reassembled into a valid ticket."""
    sim.control.fault("split")
    check_ticket(send(sim), FN, 1)
    assert sim.control.stats()["answers"] == {"split": 1}


def test_close_mid_body_is_a_read_error(sim: RunningSim) -> None:
    """The simulator closing halfway through the container is a transport read failure."""
    sim.control.fault("close_mid_body")
    with pytest.raises(OfdTransportError) as caught:
        send(sim)
    assert caught.value.stage is Stage.READ


def test_stall_outlasts_the_client_timeout(sim: RunningSim) -> None:
    """Accept-and-stall ends in the client's read timeout, the document counted as received."""
    sim.control.fault("stall")
    with pytest.raises(OfdTransportError) as caught:
        send(sim, read_timeout_s=0.3)
    assert caught.value.stage is Stage.READ
    assert [r["received"] for r in sim.control.received()] == [1]


def test_refuse_closes_the_port_until_cleared(sim: RunningSim) -> None:
    """Refuse makes connects fail; clearing the fault opens the port again."""
    sim.control.fault("refuse")
    with pytest.raises(OfdTransportError) as caught:
        send(sim)
    assert caught.value.stage is Stage.CONNECT
    sim.control.clear()
    check_ticket(send(sim), FN, 1)


def test_a_counted_fault_hits_only_that_many_messages(sim: RunningSim) -> None:
    """``count`` limits a fault to the next N messages; then answers are clean again."""
    sim.control.fault("wrong_fd", count=1)
    with pytest.raises(OfdWireError):
        check_ticket(send(sim), FN, 1)
    check_ticket(send(sim), FN, 1)
    assert sim.control.stats()["faults"]["fault"] == "none"
