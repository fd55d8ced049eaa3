"""export simulator: a small separate HTTP server implementing ``docs/export-api.md`` with fault injection.

A test and demo tool, never a real endpoint. It keeps what it received in its own SQLite file (one row per
document id, with a submission count) so tests can prove exactly-once delivery.
"""
