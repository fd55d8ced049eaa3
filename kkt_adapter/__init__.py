"""kkt-adapter: offline-first fiscal device adapter daemon for a Russian point-of-sale box."""

__version__ = "0.1.0"
