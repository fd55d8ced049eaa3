"""Load :class:`Settings` from a TOML file and the environment; report problems as one line each."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kkt_adapter.config.errors import ConfigError
from kkt_adapter.config.secrets import TOKEN_ENVS
from kkt_adapter.config.settings import Settings

ENV_PREFIX = "KKT_ADAPTER_"
ENV_NESTING = "__"
RENAMED_ENV = {
    "KKT_ADAPTER_OFD_TOKEN": "KKT_ADAPTER_OFD_TOKEN: the JSON endpoint's token belongs to the optional HQ export "
    "now: set KKT_ADAPTER_EXPORT_TOKEN instead (the real OFD needs no token)",
}


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """``KKT_ADAPTER_API__PORT=1`` → ``{"api": {"port": "1"}}``; JSON values (lists) are decoded."""
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if name in RENAMED_ENV:
            raise ConfigError(f"config error: {RENAMED_ENV[name]}")
        if not name.startswith(ENV_PREFIX) or name in TOKEN_ENVS:
            continue
        path = name[len(ENV_PREFIX) :].lower().split(ENV_NESTING)
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _decode(raw)
    return tree


def _decode(raw: str) -> Any:
    if raw[:1] in ("[", "{"):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        reason = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        lines.append(f"config error: {key}: {reason}")
    return "\n".join(lines)


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` (if given), apply environment overrides, validate; raise :class:`ConfigError`."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"config error: cannot read {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config error: {path} is not valid TOML: {exc}") from exc
    data = _merge(data, _env_overrides(os.environ if environ is None else environ))
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
