"""Tokens: read from the environment or a file, never from the command line, never logged."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

from kkt_adapter.config.errors import ConfigError

# Every token's environment variable (the only place these names are spelled).
POS_TOKEN_ENV = "KKT_ADAPTER_POS_TOKEN"  # noqa: S105 -- the variable's name, not a secret
ADMIN_TOKEN_ENV = "KKT_ADAPTER_ADMIN_TOKEN"  # noqa: S105 -- the variable's name, not a secret
EXPORT_TOKEN_ENV = "KKT_ADAPTER_EXPORT_TOKEN"  # noqa: S105 -- the variable's name, not a secret
TOKEN_ENVS = frozenset({POS_TOKEN_ENV, ADMIN_TOKEN_ENV, EXPORT_TOKEN_ENV})


def load_secret(env_name: str, file: Path | None, environ: Mapping[str, str] | None = None) -> SecretStr | None:
    """The token from ``$env_name`` if set, else from ``file`` (first line, stripped), else None."""
    env = os.environ if environ is None else environ
    if env.get(env_name):
        return SecretStr(env[env_name].strip())
    if file is None:
        return None
    try:
        value = file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"config error: cannot read the token file {file}: {exc.strerror}") from exc
    if not value:
        raise ConfigError(f"config error: the token file {file} is empty")
    return SecretStr(value)
