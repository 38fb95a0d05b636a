-- Activation: a new license waiting for an administrator, and the record of
-- every activation, pending license, rejection and excess removal.

CREATE TABLE pending_license (
    owner_name TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    license_version INTEGER NOT NULL,
    source TEXT NOT NULL,
    received_at TEXT NOT NULL
);

CREATE TABLE license_event (
    id INTEGER PRIMARY KEY,
    owner_name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('loaded', 'activated', 'pending', 'rejected', 'excess_removed')),
    from_version INTEGER,
    to_version INTEGER,
    automatic INTEGER NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    code TEXT,
    detail TEXT NOT NULL
);

CREATE INDEX license_event_at ON license_event (at);
