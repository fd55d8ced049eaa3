"""The configuration's error (under :class:`kkt_adapter.errors.AdapterError`)."""

from __future__ import annotations

from kkt_adapter.errors import AdapterError


class ConfigError(AdapterError):
    """The configuration is invalid; ``str()`` is one line per problem, each naming the key. Fix it, restart."""
