-- The vendor may limit how long an installation runs without hearing from
-- its issuer (max_offline_days, signed in the owner record; NULL: no limit),
-- and the issuer answers each poll with a signed statement: the latest one
-- per owner is kept here and checked again on every read.

ALTER TABLE module_owner ADD COLUMN max_offline_days BIGINT;

CREATE TABLE issuer_statement (
    owner_name TEXT PRIMARY KEY,
    statement TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    received_at TEXT NOT NULL
);
