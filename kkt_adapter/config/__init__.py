"""Configuration: settings model, TOML + environment loader, secrets."""

from kkt_adapter.config.errors import ConfigError
from kkt_adapter.config.loader import load_settings
from kkt_adapter.config.settings import DeviceSettings, Settings

__all__ = ["ConfigError", "DeviceSettings", "Settings", "load_settings"]
