"""The buffer's schema, migrated by ``PRAGMA user_version``; ``application_id`` marks the file as ours."""

from __future__ import annotations

APPLICATION_ID = 0x4B4B5441  # "KKTA"

MIGRATIONS: list[str] = [
    # 1: receipts with their whole lifecycle, the hash-chained event log, settings.
    """
    CREATE TABLE receipts (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        body_hash TEXT NOT NULL,
        body TEXT NOT NULL,
        device_id TEXT NOT NULL,
        tax_system TEXT NOT NULL,
        operation TEXT NOT NULL,
        total_kop INTEGER NOT NULL,
        state TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        print_attempts INTEGER NOT NULL DEFAULT 0,
        intent_last_fd INTEGER,
        fd_number INTEGER,
        fiscal_sign INTEGER,
        fiscal_datetime TEXT,
        shift_number INTEGER,
        receipt_number INTEGER,
        fn_serial TEXT,
        registration_number TEXT,
        print_incomplete INTEGER NOT NULL DEFAULT 0,
        reject_code INTEGER,
        reject_reason TEXT,
        sync_attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        lease_until TEXT,
        last_error TEXT,
        last_response TEXT,
        ofd_ticket TEXT,
        delivered_at TEXT,
        dead_reason TEXT,
        dead_acked INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX receipts_by_state ON receipts(state, seq);
    CREATE INDEX receipts_by_device ON receipts(device_id, state, seq);
    CREATE UNIQUE INDEX receipts_by_fd ON receipts(fn_serial, fd_number) WHERE fd_number IS NOT NULL;
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        key TEXT,
        from_state TEXT,
        to_state TEXT,
        actor TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX events_by_key ON events(key, seq);
    CREATE TABLE settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    """,
    # 2: fn_ack — the OFD's ticket of a delivered receipt written back into the FN, from the own-dialect
    # relay. No longer read or written (the FN relay keeps its own table, migration 4; the OFD's
    # confirmation of a receipt is migration 5's ofd_confirmed_at); kept so existing files and the
    # migration chain stay valid.
    """
    ALTER TABLE receipts ADD COLUMN fn_ack INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX receipts_fn_ack_pending ON receipts(device_id, fn_serial, seq)
        WHERE state = 'delivered' AND fn_ack = 0;
    """,
    # 3: when the next fiscalized document is due (retry time or lease end), from an index instead of a
    # scan of the whole backlog: the sync asks after every round. The expression must stay identical to
    # the one in ``queries.next_sync_due``.
    """
    CREATE INDEX receipts_sync_due
        ON receipts(state, max(coalesce(next_attempt_at, ''), coalesce(lease_until, '')));
    """,
    # 4: the OFD outbox (``buffer/outbox.py``): one row per FN document relayed through the host, keyed
    # by (fn_serial, fd_number); the FN's message and the OFD's answer stored unchanged as blobs.
    """
    CREATE TABLE outbox (
        fn_serial TEXT NOT NULL,
        fd_number INTEGER NOT NULL,
        device_id TEXT NOT NULL,
        doc_type INTEGER NOT NULL,
        message BLOB NOT NULL,
        state TEXT NOT NULL,
        read_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        lease_until TEXT,
        last_error TEXT,
        answer BLOB,
        answered_at TEXT,
        written_at TEXT,
        refuse_code INTEGER,
        refuse_reason TEXT,
        dead_reason TEXT,
        dead_acked INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (fn_serial, fd_number)
    );
    CREATE INDEX outbox_by_state ON outbox(state, read_at, fd_number);
    CREATE INDEX outbox_answered ON outbox(device_id, fn_serial, fd_number) WHERE state = 'answered';
    """,
    # 5: ofd_confirmed_at — when the buffer learnt that the OFD holds the receipt's document: its ticket was
    # written into the FN (ofd.mode = relay, ``buffer/ofd_confirm.py``) or FF39 showed the FN's queue past it
    # (ofd.mode = device). A new column rather than migration 2's fn_ack: fn_ack is a 0/1 flag whose partial
    # index is tied to ``state = 'delivered'`` (the export's state now), and the POS is owed *when*, not
    # just whether. Set once, never cleared; NULL until then (and for every receipt migrated from before).
    """
    ALTER TABLE receipts ADD COLUMN ofd_confirmed_at TEXT;
    """,
    # 6: the FN an intent was read from (its serial), written with ``intent_last_fd``: a receipt left
    # ``unknown`` on an FN that was replaced since is parked for an operator (``pipeline/resolve.py``), never
    # decided from another FN's archive. NULL: recorded before this migration (FN unknown).
    """
    ALTER TABLE receipts ADD COLUMN intent_fn_serial TEXT;
    """,
    # 7: a receipt's events found by the receipt's seq instead of its key. Keys come in no order, so each
    # new receipt's event went to another leaf page of events_by_key: with ten receipts a commit wrote ten
    # such pages of its ~25 (the intake ran 12 % faster without them, docs/benchmarks.md). A receipt's seq
    # grows with its arrival: its events go to the index's last pages. The events of other keys (the
    # outbox's ``ofd:<fn>:<fd>``, whose keys grow too) keep a key index of their own. ``receipt_seq`` is a
    # lookup aid outside the chain's hash, set by ``events.insert_rows``; ``queries.events_of`` still
    # matches the key. The upgrade reads the whole log once (1.4 s for 500,000 events on a 2-core VM).
    """
    ALTER TABLE events ADD COLUMN receipt_seq INTEGER;
    UPDATE events SET receipt_seq = (SELECT r.seq FROM receipts r WHERE r.key = events.key) WHERE key IS NOT NULL;
    DROP INDEX events_by_key;
    CREATE INDEX events_by_receipt ON events(receipt_seq, seq) WHERE receipt_seq IS NOT NULL;
    CREATE INDEX events_by_other_key ON events(key, seq) WHERE receipt_seq IS NULL AND key IS NOT NULL;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
