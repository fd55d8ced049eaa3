"""The fiscalization pipeline: one print worker per device, exactly-once under crashes, shifts, FN watch.

Entry point for the daemon's wiring: :class:`kkt_adapter.pipeline.service.Pipeline`.
"""
