"""Tokens come from the environment or a file, never from settings values, and never show up in errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kkt_adapter.config import ConfigError, load_settings
from kkt_adapter.config.secrets import load_secret

TOKEN = "tok-7f3a9c1e5b"


def test_a_token_comes_from_the_environment_first(tmp_path: Path) -> None:
    """The environment variable wins over the token file."""
    token_file = tmp_path / "pos.token"
    token_file.write_text("from-file\n", encoding="utf-8")
    secret = load_secret("KKT_ADAPTER_POS_TOKEN", token_file, {"KKT_ADAPTER_POS_TOKEN": TOKEN})
    assert secret is not None
    assert secret.get_secret_value() == TOKEN


def test_a_token_comes_from_its_file_stripped(tmp_path: Path) -> None:
    """Without the variable, the first line of the file (whitespace stripped) is the token."""
    token_file = tmp_path / "pos.token"
    token_file.write_text(f"  {TOKEN}\n", encoding="utf-8")
    secret = load_secret("KKT_ADAPTER_POS_TOKEN", token_file, {})
    assert secret is not None
    assert secret.get_secret_value() == TOKEN


def test_no_variable_and_no_file_means_no_token() -> None:
    """A token that is not configured is None (POS calls are then open, admin calls refused)."""
    assert load_secret("KKT_ADAPTER_POS_TOKEN", None, {}) is None


def test_an_empty_or_missing_token_file_is_a_clear_error(tmp_path: Path) -> None:
    """A configured token file must exist and hold a token."""
    empty = tmp_path / "empty.token"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="is empty"):
        load_secret("KKT_ADAPTER_POS_TOKEN", empty, {})
    with pytest.raises(ConfigError, match="cannot read the token file"):
        load_secret("KKT_ADAPTER_POS_TOKEN", tmp_path / "absent.token", {})


def test_a_loaded_token_does_not_print(tmp_path: Path) -> None:
    """The token object's str and repr hide the value, so a log line cannot leak it."""
    secret = load_secret("KKT_ADAPTER_ADMIN_TOKEN", None, {"KKT_ADAPTER_ADMIN_TOKEN": TOKEN})
    assert TOKEN not in f"{secret} {secret!r}"


def test_token_variables_are_not_settings_keys() -> None:
    """``KKT_ADAPTER_*_TOKEN`` variables are read as secrets, not refused as unknown settings."""
    environ = {"KKT_ADAPTER_POS_TOKEN": TOKEN, "KKT_ADAPTER_ADMIN_TOKEN": TOKEN, "KKT_ADAPTER_EXPORT_TOKEN": TOKEN}
    settings = load_settings(None, environ)
    assert TOKEN not in settings.model_dump_json()


def test_a_token_put_in_the_wrong_place_is_refused_without_echoing_it(tmp_path: Path) -> None:
    """A token given as a settings value (file or variable) is an unknown key; the error names it, not its value."""
    path = tmp_path / "kkt-adapter.toml"
    path.write_text(f"[api]\npos_token = '{TOKEN}'\n", encoding="utf-8")
    for source, environ in ((path, {}), (None, {"KKT_ADAPTER_API__ADMIN_TOKEN": TOKEN})):
        with pytest.raises(ConfigError) as caught:
            load_settings(source, environ)
        assert "unknown key" in str(caught.value)
        assert TOKEN not in str(caught.value)
