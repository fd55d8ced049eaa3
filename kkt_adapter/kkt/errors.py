"""The KKT error tree, for every device family. Every failure of the link or of the device ends in one of these.

::

    KktError
    ├── LinkError                 the link failed; whether the device executed the command is unknown
    │   ├── LinkTimeout           no answer (ENQ or command) within its timeout
    │   └── PortGone              the serial port could not be opened or vanished
    ├── ProtocolError             a malformed or unexpected answer (after the link's retries)
    │   └── OfdMessageChanged     the FN's OFD message changed while it was read: read it again later
    ├── DeviceError               the device answered with a non-zero error code (.code, .command)
    │   ├── DeviceStateError      a state the cashier/operator must fix: paper, shift > 24 h, FN blocked,
    │   │   │                     waiting for "continue printing", busy beyond retries; retry later
    │   │   └── FnOfdBlocked      the FN stops signing until its OFD queue drains (30 days / storage full)
    │   └── DeviceRejected        the device refused the content (bad parameters): do not retry
    │       └── NotEncodable      the driver refused it before sending anything: the vendor's sources do
    │                             not settle its bytes for this device (code 0: no device error)
    ├── OutcomeUnknown            anything but a clean answer after the close-receipt frame was sent
    │                             (.cause = the error above it): the FN may have signed; ask the FN
    └── NotSupported              the device family (or its firmware) lacks the operation: do not retry

A ``DeviceError`` proves the command was *not* executed only where the device says so; the pipeline
still treats any error on the close-receipt command as "outcome unknown" and asks the FN.
"""

from __future__ import annotations

from kkt_adapter.errors import AdapterError


class KktError(AdapterError):
    """Root of every KKT error."""


class LinkError(KktError):
    """The serial link failed: the outcome of the command in flight is unknown."""


class LinkTimeout(LinkError):
    """No answer within the timeout."""


class PortGone(LinkError):
    """The port could not be opened or disappeared."""


class ProtocolError(KktError):
    """A malformed or unexpected answer frame."""


class OfdMessageChanged(ProtocolError):
    """The FN's OFD message changed size between FF30 and the last FF31 (or an FF31 came back short):
    the bytes read are not one message. Nothing is lost: read it again later."""


class DeviceError(KktError):
    """The device answered with error ``code`` to ``command``."""

    def __init__(self, command: int, code: int, text: str) -> None:
        super().__init__(f"command 0x{command:X}: error 0x{code:02X} {text}")
        self.command = command
        self.code = code
        self.text = text


class DeviceStateError(DeviceError):
    """The device cannot do it now (paper, shift, FN block, busy): fix the state, then retry."""


class FnOfdBlocked(DeviceStateError):
    """The FN refuses to sign: its oldest unsent document is too old or its storage is full. Relay the
    FN's OFD queue (tickets into the FN), then retry."""


class DeviceRejected(DeviceError):
    """The device refused the content of the request: retrying the same request cannot succeed."""


class OutcomeUnknown(KktError):
    """After the close-receipt command (FF45) went out, something other than a clean success happened.

    The FN may or may not have signed the receipt. Never fiscalize the receipt again on this error:
    resolve it from the FN first (FF01 last FD number, FF0A find-document). ``cause`` is the error that occurred
    (a :class:`LinkError`, :class:`ProtocolError` or even a :class:`DeviceError` such as paper out).
    """

    def __init__(self, cause: KktError) -> None:
        super().__init__(f"receipt outcome unknown after close: {cause}")
        self.cause = cause


class NotSupported(KktError):
    """The device family (or this device's firmware) does not implement the operation."""


class NotEncodable(DeviceRejected):
    """The driver will not send this receipt to this device: a rate or text whose bytes the vendor's sources
    do not settle (``docs/kkt-encodings.md``). Raised before the first byte: nothing is open on the device."""

    def __init__(self, command: int, reason: str) -> None:
        super().__init__(command, 0, reason)
