"""The host side of the ENQ/ACK/NAK link against a responder on a real pty."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import serial
from kkt_responder import FAST, Handler, PtyResponder

from kkt_adapter.kkt.errors import LinkError, LinkTimeout, PortGone, ProtocolError
from kkt_adapter.kkt.link import SerialLink

STATUS = bytes.fromhex("10 01 00 00 00")
MakeResponder = Callable[..., PtyResponder]


def _link(responder: PtyResponder) -> SerialLink:
    return SerialLink(str(responder.path), 115200, FAST)


def test_a_command_returns_its_answer_once(make_responder: MakeResponder) -> None:
    """A plain command is executed once and its answer body comes back."""
    responder = make_responder()
    link = _link(responder)
    assert link.transact(STATUS) == b"\x10\x00\x1e"
    assert responder.executed == [STATUS]
    link.close()


def test_nak_to_the_frame_resends_it(make_responder: MakeResponder) -> None:
    """A frame NAKed by the device is sent again and executed once."""
    responder = make_responder()
    responder.faults.nak_frames = 2
    link = _link(responder)
    assert link.transact(STATUS) == b"\x10\x00\x1e"
    assert responder.executed == [STATUS]
    link.close()


def test_endless_nak_ends_in_link_error(make_responder: MakeResponder) -> None:
    """A device that NAKs every frame makes the link give up with a LinkError, nothing executed."""
    responder = make_responder()
    responder.faults.nak_frames = 1000
    link = _link(responder)
    with pytest.raises(LinkError):
        link.transact(STATUS)
    assert responder.executed == []
    link.close()


def test_bad_lrc_gets_the_same_answer_again_without_reexecution(make_responder: MakeResponder) -> None:
    """A corrupted answer is NAKed and fetched again by ENQ; the command runs only once."""
    counter = iter(range(1, 100))
    responder = make_responder(lambda body: b"\x10\x00" + bytes([next(counter)]))
    responder.faults.corrupt_answers = 2
    link = _link(responder)
    assert link.transact(STATUS) == b"\x10\x00\x01"
    assert len(responder.executed) == 1
    link.close()


def test_answers_corrupted_forever_end_in_protocol_error(make_responder: MakeResponder) -> None:
    """An answer that never arrives intact ends in ProtocolError after bounded repeats, executed once."""
    responder = make_responder()
    responder.faults.corrupt_answers = 1000
    link = _link(responder)
    with pytest.raises(ProtocolError):
        link.transact(STATUS)
    assert len(responder.executed) == 1
    link.close()


def test_stray_bytes_before_control_bytes_are_skipped(make_responder: MakeResponder) -> None:
    """0xFF bytes before ACK/NAK (seen on real devices) do not disturb the exchange."""
    responder = make_responder()
    responder.faults.stray_before_reply = b"\xff\xff"
    link = _link(responder)
    assert link.transact(STATUS) == b"\x10\x00\x1e"
    link.close()


def test_busy_answer_is_retried_and_executed_once(make_responder: MakeResponder) -> None:
    """An answer with error 50h (not executed) makes the link run the command again."""
    responder = make_responder()
    responder.faults.busy = 3
    link = _link(responder)
    assert link.transact(STATUS) == b"\x10\x00\x1e"
    assert len(responder.received) == 4
    assert responder.executed == [STATUS]
    link.close()


def test_busy_beyond_retries_returns_the_busy_answer(make_responder: MakeResponder) -> None:
    """After the bounded retries the 50h answer itself is returned for the decoder to raise."""
    responder = make_responder()
    responder.faults.busy = 1000
    link = _link(responder)
    assert link.transact(STATUS) == b"\x10\x50"
    assert len(responder.received) == FAST.busy_retries + 1
    assert responder.executed == []
    link.close()


def test_a_lost_answer_is_fetched_by_enq(make_responder: MakeResponder) -> None:
    """An answer that was executed but not sent is fetched with ENQ, not by re-sending the command."""
    responder = make_responder()
    responder.faults.lost_answers = 1
    link = _link(responder)
    assert link.transact(STATUS) == b"\x10\x00\x1e"
    assert responder.executed == [STATUS]
    link.close()


def test_a_dropped_answer_ends_in_link_timeout_without_resend(make_responder: MakeResponder) -> None:
    """A device that executed and forgot its answer yields LinkTimeout; the command is not resent."""
    responder = make_responder()
    responder.faults.dropped_answers = 1
    link = _link(responder)
    with pytest.raises(LinkTimeout):
        link.transact(STATUS)
    assert responder.executed == [STATUS]
    assert link.frame_sent
    link.close()


def test_a_swallowed_frame_is_resent_after_enq_says_idle(make_responder: MakeResponder) -> None:
    """No ACK to a frame, then NAK to ENQ, proves the device never took it: the frame is resent."""
    responder = make_responder()
    responder.faults.swallowed_frames = 1
    link = _link(responder)
    assert link.transact(STATUS) == b"\x10\x00\x1e"
    assert responder.executed == [STATUS]
    link.close()


def test_a_pending_answer_is_drained_before_the_next_command(make_responder: MakeResponder) -> None:
    """An answer left unacknowledged by an earlier client is read and dropped at ENQ; the new command
    gets its own answer."""
    handler: Handler = lambda body: body[:1] + b"\x00\x1e"  # noqa: E731 -- a one-line handler
    responder = make_responder(handler)
    responder.faults.lost_answers = 1
    with serial.Serial(str(responder.path), 115200, timeout=1) as crashed_client:
        crashed_client.write(bytes.fromhex("02 05 11 01 00 00 00 15"))  # 11h; answer never read
        assert crashed_client.read(1) == b"\x06"
    link = _link(responder)
    assert link.transact(STATUS) == b"\x10\x00\x1e"
    assert [body[0] for body in responder.executed] == [0x11, 0x10]
    link.close()


def test_a_silent_device_ends_in_link_timeout_within_the_bound(make_responder: MakeResponder) -> None:
    """A device that never answers makes the call fail with LinkTimeout within the policy's bound."""
    responder = make_responder()
    responder.faults.mute = True
    link = _link(responder)
    started = time.monotonic()
    with pytest.raises(LinkTimeout):
        link.transact(STATUS)
    assert time.monotonic() - started < FAST.worst_case_s(0x10)
    assert not link.frame_sent
    link.close()


def test_port_gone_then_reconnect(make_responder: MakeResponder) -> None:
    """A vanished port raises PortGone; when it comes back the next call reconnects by itself."""
    responder = make_responder()
    link = _link(responder)
    assert link.transact(STATUS) == b"\x10\x00\x1e"
    responder.stop()
    with pytest.raises(PortGone):
        link.transact(STATUS)
    with pytest.raises(PortGone):
        link.transact(STATUS)
    responder.start()
    assert link.transact(STATUS) == b"\x10\x00\x1e"
    link.close()


def test_missing_port_is_port_gone() -> None:
    """Opening a path that does not exist raises PortGone."""
    link = SerialLink("/nonexistent/kkt-port", 115200, FAST)
    with pytest.raises(PortGone):
        link.transact(STATUS)
