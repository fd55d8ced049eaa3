"""The emulator's state file, written in O(changes) instead of O(archive) per command.

:func:`~kkt_adapter.emulator.state.state_to_json` runs ``dataclasses.asdict`` over the whole FN archive:
at 500 documents one save costs tens of milliseconds, and the emulator saves after every command that
changes the state (each receipt line), before it answers. :class:`StateFile` writes the same bytes
(byte for byte what ``state_to_json`` produces, so :func:`~kkt_adapter.emulator.state.load_state`
reads it) but keeps the JSON of every archive entry and re-encodes an entry only when one of its field
values changed. The write itself is atomic as :func:`~kkt_adapter.emulator.state.save_state`'s: temp
file, fsync, rename, fsync of the directory (the fsyncs only with ``fsync=True``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields, is_dataclass
from datetime import date, datetime
from operator import attrgetter
from pathlib import Path
from typing import Any

from kkt_adapter.emulator.state import FORMAT_VERSION, EmulatorState, FnDocument

_HEAD_FIELDS = tuple(f.name for f in fields(EmulatorState) if f.name != "documents")
_DOC_FIELDS = tuple(f.name for f in fields(FnDocument))
_doc_values = attrgetter(*_DOC_FIELDS)  # one C call: the tuple of an entry's field values


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)  # a signed receipt line (frozen, so entries stay hashable)
    raise TypeError(f"not serializable: {type(value).__name__}")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":"))


def _doc_json(values: tuple[Any, ...]) -> str:
    return _dumps(dict(zip(_DOC_FIELDS, values, strict=True)))


class StateFile:
    """Writes :class:`EmulatorState` snapshots to ``path``; not thread-safe (the emulator holds its lock)."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = path
        self.fsync = fsync
        self._values: list[tuple[Any, ...]] = []  # field values of the archive entries last encoded
        self._texts: list[str] = []  # their JSON, position by position
        self._joined = ""  # ",".join(self._texts)

    def encode(self, state: EmulatorState) -> str:
        """The JSON text of ``state``: identical to ``state_to_json(state)``."""
        head = {name: getattr(state, name) for name in _HEAD_FIELDS}
        head["config"] = asdict(state.config)
        head["receipt"] = None if state.receipt is None else asdict(state.receipt)
        return f'{_dumps(head)[:-1]},"documents":[{self._documents(state.documents)}],"format":{FORMAT_VERSION}}}'

    def _documents(self, docs: list[FnDocument]) -> str:
        """The archive's JSON items; only entries new or changed since the last call are encoded."""
        values: list[tuple[Any, ...]] = list(map(_doc_values, docs))
        known = len(self._values)
        if len(values) >= known and values[:known] == self._values:  # the usual case: appended or same
            fresh = [_doc_json(v) for v in values[known:]]
            self._joined = ",".join([self._joined, *fresh] if known else fresh)
            self._texts += fresh
        else:
            old = dict(zip(self._values, self._texts, strict=True))
            self._texts = [old.get(v) or _doc_json(v) for v in values]
            self._joined = ",".join(self._texts)
        self._values = values
        return self._joined

    def save(self, state: EmulatorState) -> None:
        """Atomically replace the file with ``state`` (temp file, rename; fsyncs when ``fsync``)."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(self.encode(state))
            handle.flush()
            if self.fsync:
                os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        if not self.fsync:
            return
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
