"""Loading the configuration: defaults, the TOML file, environment overrides, one clear line per error."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel

from kkt_adapter.config import ConfigError, Settings, load_settings
from kkt_adapter.config.settings import DEFAULT_PORT

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / "config" / "kkt-adapter.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kkt-adapter.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path | None, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ or {})
    return str(caught.value)


def test_defaults_load_without_a_file() -> None:
    """No file and no environment give the built-in defaults: 127.0.0.1 on the documented port."""
    settings = load_settings(None, {})
    assert settings == Settings()
    assert (settings.api.host, settings.api.port) == ("127.0.0.1", DEFAULT_PORT)


def test_the_shipped_config_file_states_the_defaults() -> None:
    """``config/kkt-adapter.toml`` loads and says exactly what the built-in defaults are."""
    assert load_settings(DEFAULT_CONFIG, {}) == Settings()


def _field_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths = []
    for name, info in model.model_fields.items():
        annotation: Any = info.annotation
        if get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths += _field_paths(annotation, f"{prefix}{name}.")
        else:
            paths.append(f"{prefix}{name}")
    return paths


def test_the_shipped_config_file_documents_every_setting() -> None:
    """Every setting of :class:`Settings` appears in the shipped file (set, or commented out when unset)."""
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    sections: dict[str, list[str]] = {}
    section = ""
    for line in text.splitlines():
        stripped = line.lstrip("# ").strip()
        if stripped.startswith("[") and stripped.endswith("]") and "=" not in stripped:
            section = stripped.strip("[]")
        elif "=" in stripped:
            sections.setdefault(section, []).append(stripped.split("=", 1)[0].strip())
    documented = {f"{s}.{k}" if s else k for s, keys in sections.items() for k in keys}
    missing = [p for p in _field_paths(Settings) if p not in documented]
    assert missing == []
    assert tomllib.loads(text)  # and it is TOML


def test_a_file_overrides_the_defaults(tmp_path: Path) -> None:
    """Values in the file replace the defaults, the rest stay."""
    settings = load_settings(write(tmp_path, "[api]\nport = 9100\n[buffer]\ncapacity = 1000\n"), {})
    assert (settings.api.port, settings.buffer.capacity, settings.api.host) == (9100, 1000, "127.0.0.1")


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[api]\nport = 70000\n", "api.port"),
        ("[api]\nport = 'eighty'\n", "api.port"),
        ("[buffer]\ncapacity = 1\n", "buffer.capacity"),
        ("[sync]\nbackoff_base_s = -1.0\n", "sync.backoff_base_s"),
        ("[[devices]]\nid = 'kkt 1'\nport = '/dev/ttyUSB0'\n", "devices.0.id"),
        ("[[devices]]\nid = 'kkt1'\nport = '/dev/ttyUSB0'\ntax_system = 'vat'\n", "devices.0.tax_system"),
        ("[shift]\nclose_at = '25:00'\n", "shift.close_at"),
    ],
)
def test_a_bad_value_fails_with_one_line_naming_the_key(tmp_path: Path, toml: str, key: str) -> None:
    """A value out of range or of the wrong type is one ``config error: <key>: <reason>`` line."""
    message = error_of(write(tmp_path, toml))
    assert message.count("\n") == 0
    assert message.startswith(f"config error: {key}: ")


@pytest.mark.parametrize(
    ("toml", "key"),
    [("[api]\nprot = 8000\n", "api.prot"), ("[ap]\nport = 8000\n", "ap"), ("colour = 'red'\n", "colour")],
)
def test_an_unknown_key_fails_with_one_line_naming_it(tmp_path: Path, toml: str, key: str) -> None:
    """A misspelt key or section is refused, not ignored."""
    assert error_of(write(tmp_path, toml)) == f"config error: {key}: unknown key"


def test_each_problem_gets_its_own_line(tmp_path: Path) -> None:
    """Two problems give two lines, each naming its key."""
    lines = error_of(write(tmp_path, "[api]\nport = 0\nprot = 1\n")).splitlines()
    assert sorted(line.split(":")[1].strip() for line in lines) == ["api.port", "api.prot"]


def test_duplicate_device_ids_are_refused(tmp_path: Path) -> None:
    """Two devices with one id cannot both be addressed."""
    toml = "[[devices]]\nid = 'a'\nport = 'p1'\n[[devices]]\nid = 'a'\nport = 'p2'\n"
    assert "ids must be unique" in error_of(write(tmp_path, toml))


def test_a_file_that_is_not_toml_names_the_file(tmp_path: Path) -> None:
    """A syntax error names the file and the place."""
    path = write(tmp_path, "[api\nport = 1\n")
    message = error_of(path)
    assert message.startswith(f"config error: {path} is not valid TOML")
    assert "\n" not in message


def test_a_missing_file_names_the_file(tmp_path: Path) -> None:
    """A path that does not exist is one clear line."""
    path = tmp_path / "nope.toml"
    assert error_of(path) == f"config error: cannot read {path}: No such file or directory"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    """``KKT_ADAPTER_API__PORT`` wins over ``[api] port`` in the file."""
    settings = load_settings(write(tmp_path, "[api]\nport = 9100\n"), {"KKT_ADAPTER_API__PORT": "9200"})
    assert settings.api.port == 9200


def test_environment_sets_nested_values_and_lists() -> None:
    """Nested keys use ``__``; a JSON value sets a list such as the devices."""
    environ = {
        "KKT_ADAPTER_BUFFER__CAPACITY": "777",
        "KKT_ADAPTER_SYNC__ENABLED": "false",
        "KKT_ADAPTER_DEVICES": '[{"id": "kkt9", "port": "/dev/ttyUSB9"}]',
        "KKT_ADAPTER_DEFAULT_DEVICE": "kkt9",
        "OTHER_VARIABLE": "ignored",
    }
    settings = load_settings(None, environ)
    assert settings.buffer.capacity == 777
    assert settings.sync.enabled is False
    assert settings.default_device_id == "kkt9"


def test_a_bad_environment_value_names_the_key() -> None:
    """An environment override is validated like the file and named by its settings key."""
    assert error_of(None, {"KKT_ADAPTER_API__PORT": "0"}).startswith("config error: api.port: ")
    assert error_of(None, {"KKT_ADAPTER_API__PROT": "1"}) == "config error: api.prot: unknown key"


def test_the_old_ofd_json_keys_say_where_they_moved(tmp_path: Path) -> None:
    """``[ofd] base_url`` (the JSON endpoint of old) fails with one line pointing to ``[export]``."""
    message = error_of(write(tmp_path, '[ofd]\nbase_url = "http://hq.example:8720"\n'))
    assert "ofd.base_url" in message
    assert "[export]" in message
    assert "export.enabled = true" in message


def test_ofd_mode_must_be_one_of_the_three(tmp_path: Path) -> None:
    """``ofd.mode`` accepts relay, device or off, and names the key otherwise."""
    assert load_settings(write(tmp_path, '[ofd]\nmode = "device"\n'), {}).ofd.mode == "device"
    assert "ofd.mode" in error_of(write(tmp_path, '[ofd]\nmode = "json"\n'))


def test_the_old_ofd_token_variable_says_where_it_moved() -> None:
    """``KKT_ADAPTER_OFD_TOKEN`` fails with one line naming ``KKT_ADAPTER_EXPORT_TOKEN``, not "unknown key"."""
    message = error_of(None, {"KKT_ADAPTER_OFD_TOKEN": "x"})
    assert "KKT_ADAPTER_EXPORT_TOKEN" in message
    assert "unknown key" not in message
