"""The root of every error the daemon's own code raises, and where each branch is drawn.

::

    AdapterError
    ├── KktError              kkt/errors.py: link, protocol, device state/refusal, outcome unknown
    ├── StoreError            buffer/errors.py: storage unavailable, full, idempotency conflict …
    ├── ConfigError           config/errors.py: the configuration (or a token file) is invalid: fix, restart
    ├── ApiError              api/errors.py: an HTTP error answer (status, code, message, details)
    ├── DeviceUnavailable     pipeline/commands.py: the device is not connected; the action was not queued
    ├── AdminError            sync/admin_http.py: a CLI's call to the daemon failed; the message is for a person
    ├── SourceError           ops/reconcile_sources.py: a reconciliation source could not be read
    ├── ScopeNotFound         ops/reconcile_scope.py: the FN has no such shift
    ├── NotFiscalizedError    export/build.py: a receipt lacks a fiscal attribute (also a ValueError)
    ├── OfdWireError          ofd/wire.py: an FN↔OFD message or ticket is malformed (reason in .fault)
    └── OfdTransportError     ofd/transport.py: the TCP exchange with the OFD did not complete (retry)

Each branch's module says what the caller must do. The test doubles (the emulator, the OFD simulator) share
nothing with the daemon and keep their own errors.
"""

from __future__ import annotations


class AdapterError(Exception):
    """Root of the daemon's own errors: ``except AdapterError`` catches every expected failure, never a bug."""
