-- Ids are never reused, and logins are unique regardless of case.
--
-- Without AUTOINCREMENT, SQLite gives a new row the highest id + 1, so
-- deleting the newest user (through SCIM, say) and adding another handed the
-- new person the old id: an identity provider still holding it then edited
-- the wrong user. AUTOINCREMENT keeps the highest id ever used in
-- sqlite_sequence and never hands out a used one again. (PostgreSQL's
-- identity columns are sequences and never reuse ids; its 0011 only adds the
-- login index.) Ids deleted above today's highest before this migration
-- cannot be known and so may be used once more; none is reused after it.
--
-- SQLite cannot add AUTOINCREMENT to a table, so every table with an integer
-- id is recreated with every row, column, constraint, index and foreign key
-- (https://www.sqlite.org/lang_altertable.html#otheralter). The migration
-- runs in one transaction with foreign keys enforced, where PRAGMA
-- foreign_keys cannot be switched off; dropping a parent table would then
-- delete its children's rows through ON DELETE CASCADE, and renaming one
-- would re-point its children's references. So nothing is renamed: every
-- table is copied aside, the tables are dropped children first (a dropped
-- parent has no children left to cascade into), created again under their
-- own names, filled parents first, and the copies dropped. A failure
-- anywhere rolls the whole transaction back.
--
-- Logins compare without regard to case (SCIM's userName is caseExact=false):
-- a unique index on lower(login_name). The store refuses to open, naming the
-- pairs, before this migration runs on a database holding two logins that
-- differ only in case; should one slip in meanwhile, the index fails and the
-- transaction rolls back. Logins are ASCII, so SQLite's lower() folds them
-- exactly as PostgreSQL's does.

CREATE TABLE _v11_module_owner AS SELECT * FROM module_owner;
CREATE TABLE _v11_module_license AS SELECT * FROM module_license;
CREATE TABLE _v11_associate AS SELECT * FROM associate;
CREATE TABLE _v11_license_assoc_link AS SELECT * FROM license_assoc_link;
CREATE TABLE _v11_api_token AS SELECT * FROM api_token;
CREATE TABLE _v11_site AS SELECT * FROM site;
CREATE TABLE _v11_site_module AS SELECT * FROM site_module;
CREATE TABLE _v11_license_event AS SELECT * FROM license_event;
CREATE TABLE _v11_issuer_check AS SELECT * FROM issuer_check;
CREATE TABLE _v11_web_session AS SELECT * FROM web_session;
CREATE TABLE _v11_system_event AS SELECT * FROM system_event;
CREATE TABLE _v11_audit_log AS SELECT * FROM audit_log;

-- Children first (their indexes go with them).
DROP TABLE license_assoc_link;
DROP TABLE web_session;
DROP TABLE site_module;
DROP TABLE module_license;
DROP TABLE module_owner;
DROP TABLE associate;
DROP TABLE site;
DROP TABLE api_token;
DROP TABLE license_event;
DROP TABLE issuer_check;
DROP TABLE system_event;
DROP TABLE audit_log;

-- The same tables as 0001-0010 made them (columns added later by ALTER
-- TABLE at the end, as before), with AUTOINCREMENT.
CREATE TABLE module_owner (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_name TEXT NOT NULL UNIQUE,
    owner_description TEXT NOT NULL,
    company_name TEXT NOT NULL,
    serial_number TEXT NOT NULL,
    deployment_type TEXT NOT NULL,
    license_version INTEGER NOT NULL,
    license_url TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    expiration TEXT,
    grace_to TEXT,
    maintenance_to TEXT,
    next_check_date TEXT,
    admin_warning_date TEXT,
    module_count INTEGER NOT NULL,
    modules_digest TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    loaded_at TEXT NOT NULL
);

CREATE TABLE module_license (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id INTEGER NOT NULL REFERENCES module_owner (id) ON DELETE CASCADE,
    module_name TEXT NOT NULL,
    module_description TEXT NOT NULL,
    module_version INTEGER NOT NULL,
    tooltip TEXT NOT NULL,
    module_type INTEGER NOT NULL,
    license_count INTEGER NOT NULL,
    extra_flags INTEGER NOT NULL,
    extra_info TEXT NOT NULL,
    sort_order INTEGER NOT NULL,
    hidden INTEGER NOT NULL,
    unrestricted INTEGER NOT NULL,
    prerequisite_module TEXT,
    signature TEXT NOT NULL,
    UNIQUE (module_name, module_version, owner_id)
);

CREATE TABLE associate (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    login_name TEXT NOT NULL UNIQUE,
    full_name TEXT NOT NULL,
    email TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    login_rights INTEGER NOT NULL DEFAULT 1,
    is_admin INTEGER NOT NULL DEFAULT 0,
    password_hash TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    language TEXT
);

CREATE UNIQUE INDEX associate_login_lower ON associate (lower(login_name));

CREATE TABLE license_assoc_link (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    module_license_id INTEGER NOT NULL REFERENCES module_license (id) ON DELETE CASCADE,
    assoc_id INTEGER NOT NULL REFERENCES associate (id) ON DELETE CASCADE,
    valid_from TEXT,
    valid_to TEXT,
    comment TEXT NOT NULL DEFAULT '',
    check_value TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    direct INTEGER NOT NULL DEFAULT 1,
    UNIQUE (module_license_id, assoc_id)
);

CREATE INDEX license_assoc_link_assoc ON license_assoc_link (assoc_id);

CREATE TABLE api_token (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE TABLE site (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('central', 'satellite')),
    created_at TEXT NOT NULL
);

CREATE UNIQUE INDEX site_one_central ON site (kind) WHERE kind = 'central';

CREATE TABLE site_module (
    site_id INTEGER NOT NULL REFERENCES site (id) ON DELETE CASCADE,
    module_name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (site_id, module_name)
);

CREATE TABLE license_event (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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

CREATE TABLE issuer_check (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    ok INTEGER NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL
);

CREATE TABLE web_session (
    id_hash TEXT PRIMARY KEY,
    assoc_id INTEGER NOT NULL REFERENCES associate (id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE INDEX web_session_assoc ON web_session (assoc_id);

CREATE TABLE system_event (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_key TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('system', 'database', 'group', 'user')),
    target TEXT,
    status TEXT NOT NULL CHECK (status IN ('active', 'finished', 'failed')),
    message TEXT NOT NULL,
    description TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('admin', 'system', 'job')),
    activated_at TEXT NOT NULL,
    activated_by TEXT NOT NULL,
    eta TEXT,
    finished_at TEXT,
    progress INTEGER,
    heartbeat_at TEXT,
    runner TEXT
);

CREATE INDEX system_event_status ON system_event (status, activated_at);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    address TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);

CREATE INDEX audit_log_at ON audit_log (at);

-- Parents first, so every foreign key holds as each row goes in. Inserting
-- the old ids sets each table's sqlite_sequence to its highest.
INSERT INTO module_owner (id, owner_name, owner_description, company_name, serial_number,
    deployment_type, license_version, license_url, issued_at, expiration, grace_to,
    maintenance_to, next_check_date, admin_warning_date, module_count, modules_digest,
    key_id, signature, loaded_at)
SELECT id, owner_name, owner_description, company_name, serial_number,
    deployment_type, license_version, license_url, issued_at, expiration, grace_to,
    maintenance_to, next_check_date, admin_warning_date, module_count, modules_digest,
    key_id, signature, loaded_at
FROM _v11_module_owner ORDER BY id;

INSERT INTO module_license (id, owner_id, module_name, module_description, module_version,
    tooltip, module_type, license_count, extra_flags, extra_info, sort_order, hidden,
    unrestricted, prerequisite_module, signature)
SELECT id, owner_id, module_name, module_description, module_version,
    tooltip, module_type, license_count, extra_flags, extra_info, sort_order, hidden,
    unrestricted, prerequisite_module, signature
FROM _v11_module_license ORDER BY id;

INSERT INTO associate (id, login_name, full_name, email, active, login_rights, is_admin,
    password_hash, created_at, updated_at, language)
SELECT id, login_name, full_name, email, active, login_rights, is_admin,
    password_hash, created_at, updated_at, language
FROM _v11_associate ORDER BY id;

INSERT INTO license_assoc_link (id, module_license_id, assoc_id, valid_from, valid_to,
    comment, check_value, created_at, direct)
SELECT id, module_license_id, assoc_id, valid_from, valid_to,
    comment, check_value, created_at, direct
FROM _v11_license_assoc_link ORDER BY id;

INSERT INTO api_token (id, name, scope, token_hash, created_at, revoked_at)
SELECT id, name, scope, token_hash, created_at, revoked_at FROM _v11_api_token ORDER BY id;

INSERT INTO site (id, name, kind, created_at)
SELECT id, name, kind, created_at FROM _v11_site ORDER BY id;

INSERT INTO site_module (site_id, module_name, created_at)
SELECT site_id, module_name, created_at FROM _v11_site_module;

INSERT INTO license_event (id, owner_name, kind, from_version, to_version, automatic, actor,
    at, code, detail)
SELECT id, owner_name, kind, from_version, to_version, automatic, actor,
    at, code, detail
FROM _v11_license_event ORDER BY id;

INSERT INTO issuer_check (id, at, ok, status, message)
SELECT id, at, ok, status, message FROM _v11_issuer_check ORDER BY id;

INSERT INTO web_session (id_hash, assoc_id, csrf, created_at, expires_at)
SELECT id_hash, assoc_id, csrf, created_at, expires_at FROM _v11_web_session;

INSERT INTO system_event (id, event_key, scope, target, status, message, description, kind,
    activated_at, activated_by, eta, finished_at, progress, heartbeat_at, runner)
SELECT id, event_key, scope, target, status, message, description, kind,
    activated_at, activated_by, eta, finished_at, progress, heartbeat_at, runner
FROM _v11_system_event ORDER BY id;

INSERT INTO audit_log (id, at, actor, address, action, target, detail)
SELECT id, at, actor, address, action, target, detail FROM _v11_audit_log ORDER BY id;

DROP TABLE _v11_module_owner;
DROP TABLE _v11_module_license;
DROP TABLE _v11_associate;
DROP TABLE _v11_license_assoc_link;
DROP TABLE _v11_api_token;
DROP TABLE _v11_site;
DROP TABLE _v11_site_module;
DROP TABLE _v11_license_event;
DROP TABLE _v11_issuer_check;
DROP TABLE _v11_web_session;
DROP TABLE _v11_system_event;
DROP TABLE _v11_audit_log;
