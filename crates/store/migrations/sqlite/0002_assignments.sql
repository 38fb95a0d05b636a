-- Assignments: whether a link was given directly or only through a plan's
-- set=, a data version every write bumps (so every process sharing the
-- database notices changes), API tokens, and sites.

ALTER TABLE license_assoc_link ADD COLUMN direct INTEGER NOT NULL DEFAULT 1;

CREATE TABLE data_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO data_version (id, version) VALUES (1, 0);

CREATE TABLE api_token (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE TABLE site (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('central', 'satellite')),
    created_at TEXT NOT NULL
);

CREATE TABLE site_module (
    site_id INTEGER NOT NULL REFERENCES site (id) ON DELETE CASCADE,
    module_name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (site_id, module_name)
);
