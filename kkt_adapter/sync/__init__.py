"""OFD sync: drain ``fiscalized`` documents to the OFD through one circuit breaker, with backoff and a DLQ.

Delivery is at-least-once: a document may be submitted more than once (a crash after the OFD stored it,
a lost answer), always under the same id ``"{fn_serial}-{fd_number}"``, which the OFD deduplicates.
"""
