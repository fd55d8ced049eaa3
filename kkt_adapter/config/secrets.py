"""Tokens: read from the environment, a file or a systemd credential, never from the command line, never logged.

One scheme for the three tokens, one set of names — environment, config setting, systemd credential (and
its file in ``/etc/kkt-adapter/``):

- POS: ``KKT_ADAPTER_POS_TOKEN``, ``api.pos_token_file``, ``pos-token``;
- admin: ``KKT_ADAPTER_ADMIN_TOKEN``, ``api.admin_token_file``, ``admin-token``;
- export: ``KKT_ADAPTER_EXPORT_TOKEN``, ``export.token_file``, ``export-token``.

Looked up in that order. Under systemd the unit hands each ``/etc/kkt-adapter/<name>`` (root-only) over
with ``LoadCredential=<name>:…``: the daemon, a dynamic user, reads ``$CREDENTIALS_DIRECTORY/<name>``.
An empty credential means "no token" (``scripts/install`` creates all three so the unit always starts;
the POS and export ones stay empty until set). Token files are written with :func:`write_token`.
"""

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
# The systemd credential (and /etc/kkt-adapter file) name of each token.
CREDENTIALS = {POS_TOKEN_ENV: "pos-token", ADMIN_TOKEN_ENV: "admin-token", EXPORT_TOKEN_ENV: "export-token"}


def credential_file(env_name: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """``$CREDENTIALS_DIRECTORY/<name>`` of the token named by ``env_name`` when systemd provides it."""
    env = os.environ if environ is None else environ
    directory, name = env.get("CREDENTIALS_DIRECTORY"), CREDENTIALS.get(env_name)
    if not directory or name is None:
        return None
    path = Path(directory) / name
    return path if path.is_file() else None


def load_secret(env_name: str, file: Path | None, environ: Mapping[str, str] | None = None) -> SecretStr | None:
    """The token from ``$env_name``, else ``file`` (first line, stripped), else the systemd credential, else None.

    An empty ``file`` is a configuration error; an empty credential means no token (see the module doc).
    """
    env = os.environ if environ is None else environ
    if env.get(env_name):
        return SecretStr(env[env_name].strip())
    if file is None:
        credential = credential_file(env_name, env)
        if credential is None:
            return None
        try:
            value = credential.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"config error: cannot read the credential {credential}: {exc.strerror}") from exc
        return SecretStr(value) if value else None
    try:
        value = file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"config error: cannot read the token file {file}: {exc.strerror}") from exc
    if not value:
        raise ConfigError(f"config error: the token file {file} is empty")
    return SecretStr(value)


def write_token(path: Path, value: str) -> None:
    """Write ``value`` to ``path`` atomically with mode 0600 from the first byte (no window where another
    user could read it, never a half-written file after a crash): a new temporary file created 0600 in
    the same directory, fsync'd, renamed over ``path``, and the directory fsync'd."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (value.strip() + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
