-- The installation's link to its issuer: where to ask, as which serial, with
-- which secret; and the outcome of each check.

CREATE TABLE issuer_link (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    issuer_url TEXT NOT NULL,
    serial_number TEXT NOT NULL,
    secret TEXT NOT NULL,
    check_requested INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);

CREATE TABLE issuer_check (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    ok INTEGER NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL
);

CREATE TABLE installation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    created_at TEXT NOT NULL
);
