"""Delivery loops: the OFD relay (``relay*.py``: the FN's messages from the outbox to the OFD over TCP) and the
optional HQ export (``worker.py``: ``fiscalized`` receipts as JSON to an HQ endpoint), each through its own
circuit breaker, with backoff and a DLQ.

Both are at-least-once: the OFD may see an FN message twice (a crash after the send, before its answer was
committed; identified by (FN, FD)); an export document may be submitted twice under the same id
``"{fn_serial}-{fd_number}"``, which the endpoint deduplicates.
"""
