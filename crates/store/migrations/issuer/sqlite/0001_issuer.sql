-- The vendor's issuer database: customers, the license spec each bought (the
-- latest signed document beside it), and the history of every change.

CREATE TABLE customer (
    id INTEGER PRIMARY KEY,
    serial_number TEXT NOT NULL UNIQUE,
    company_name TEXT NOT NULL,
    contact TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    spec TEXT NOT NULL,
    license_version INTEGER NOT NULL,
    document TEXT NOT NULL,
    message TEXT,
    message_url TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE customer_history (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customer (id) ON DELETE CASCADE,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    what TEXT NOT NULL
);

CREATE TABLE issuer_admin (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    password_hash TEXT NOT NULL
);
