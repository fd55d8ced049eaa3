"""A refused token is a configuration error: pause delivery, keep every document, resume when it is fixed.

When the export endpoint answers 401/403 (:class:`~kkt_adapter.export.outcome.AuthRefused`),
resubmitting cannot help and dead-lettering would throw the whole backlog away in seconds. Instead the
worker persists the pause switch with a reason naming where the token comes from (the red alarm on the
page), leaves every document ``fiscalized``, and resumes by itself once the token file's content changes
(:class:`TokenFile` fingerprints it), or when an admin runs ``kkt-adapter sync resume``.
The pause reason is a setting (``sync.pause_reason``) holding JSON: ``kind`` (``auth``), ``message`` and
the token's ``fingerprint`` when it was refused, so the rule holds across restarts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kkt_adapter.export.outcome import AuthRefused

PAUSE_REASON_SETTING = "sync.pause_reason"
AUTH = "auth"
AUTH_POLL_S = 5.0  # how often a paused worker looks at the token file


class Credentials(Protocol):
    """Where the worker's token comes from: named for the alarm, fingerprinted, reloaded into the client."""

    @property
    def source(self) -> str: ...
    def fingerprint(self) -> str: ...
    def reload(self) -> None: ...


@dataclass
class TokenFile:
    """A token read from ``path`` (None: from an environment variable, which cannot change at run time).

    ``apply(token)`` puts a re-read token into the client.
    """

    path: Path | None
    env_name: str
    apply: Callable[[str | None], None]

    @property
    def source(self) -> str:
        return f"the token file {self.path}" if self.path is not None else f"${self.env_name}"

    def _read(self) -> str | None:
        if self.path is None:
            return None
        try:
            return self.path.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def fingerprint(self) -> str:
        """SHA-256 of the file's token (never the token itself); stable while the file is unchanged."""
        return hashlib.sha256((self._read() or "").encode()).hexdigest()

    def reload(self) -> None:
        if self.path is not None:
            self.apply(self._read())


@dataclass(frozen=True)
class PauseReason:
    """Why delivery is paused by the worker itself."""

    kind: str
    message: str
    fingerprint: str

    def dump(self) -> str:
        return json.dumps({"kind": self.kind, "message": self.message, "fingerprint": self.fingerprint})

    @classmethod
    def load(cls, text: str | None) -> PauseReason | None:
        """The reason stored in the setting; None when empty or not ours."""
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(str(data["kind"]), str(data["message"]), str(data["fingerprint"]))
        except (ValueError, KeyError, TypeError):
            return None


def auth_pause(outcome: AuthRefused, credentials: Credentials | None) -> PauseReason:
    """The pause an auth refusal causes, naming what to fix (pure)."""
    source = credentials.source if credentials is not None else "the token setting"
    message = (
        f"{outcome.reason}: delivery paused, every document kept; fix {source}"
        " (delivery resumes by itself when it changes, or run kkt-adapter sync resume)"
    )
    return PauseReason(AUTH, message, credentials.fingerprint() if credentials is not None else "")


def token_changed(reason: PauseReason | None, credentials: Credentials | None) -> bool:
    """Whether an auth pause should lift because the token is no longer the one refused (pure but for the read)."""
    if reason is None or reason.kind != AUTH or credentials is None:
        return False
    return credentials.fingerprint() != reason.fingerprint
