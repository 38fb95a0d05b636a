//! Every stable error code lisens gives, written once. A code is what a
//! program matches on and what a translation is keyed by (`error-CODE` in
//! the server's locales); the sentence beside it here is what
//! `docs/error-codes.md` says, and a test keeps the two equal. Product code
//! names a code only through these constants (a test scans the sources for
//! code-shaped string literals).

macro_rules! codes {
    ($($name:ident => $when:literal,)*) => {
        $(
            #[doc = $when]
            pub const $name: &str = stringify!($name);
        )*
        /// Every code with what it means, in the order of `docs/error-codes.md`.
        pub const ALL: &[(&str, &str)] = &[$((stringify!($name), $when)),*];
    };
}

codes! {
    // License documents and keys.
    LICENSE_MALFORMED => "not a license document: armor, base64, layout, JSON, a value, non-canonical form",
    LICENSE_SIGNATURE_INVALID => "a signature does not verify, the key is not trusted, or the row set is not the signed one",
    LICENSE_SPEC_INVALID => "a license spec breaks a rule (the message names it)",
    LICENSE_OWNER_EXISTS => "a license of this owner is already loaded; a new one goes through activation",
    LICENSE_OWNER_KEY_MISMATCH => "the owner is trusted with another key",
    LICENSE_KEY_NOT_TRUSTED => "the license is signed by a key this installation has not trusted (keys are pinned; `license trust-key` first)",
    LICENSE_KEY_REQUIRED => "no key is trusted yet and none was given",
    LICENSE_UNKNOWN_KEY => "the license names a key id that is not among the keys given",
    LICENSE_VERSION_OLDER => "the license is older than one this installation already activated (a replay), also after its rows were deleted",
    LICENSE_VERSION_REUSED => "a different license with the same version as the one in force",
    LICENSE_SERIAL_MISMATCH => "the new license is for another serial number",
    LICENSE_OWNER_MISMATCH => "the new license is for another owner",
    LICENSE_EXPIRED => "past the license's grace date (graceTo): refused, or (as a check's reason) not granted",
    LICENSE_MAINTENANCE_EXPIRED => "maintenance ended before this lisens release: a license that covers it is needed",
    LICENSE_NOT_PENDING => "no pending license for this owner",
    LICENSE_TOO_MANY_ASSIGNED => "more users hold modules than the new license allows: remove excess licenses first",
    LICENSE_READ_ONLY => "past the primary owner's grace period (or the clock set back): the installation is read-only",
    KEY_MALFORMED => "a key file does not hold the expected key",
    ISSUER_KEY_EXISTS => "keygen would overwrite a key",
    // Assignments.
    LICENSE_OVERCOMMITTED => "every license of the module is in use",
    LICENSE_PREREQUISITE_MISSING => "the user lacks a module this one needs",
    LICENSE_NOT_ASSIGNED => "the user does not hold this license",
    LICENSE_GRANTED_BY_PLAN => "the license comes with a plan the user holds; unassign the plan",
    LICENSE_INVALID => "the module's row failed its signature check, so it cannot be assigned",
    MODULE_UNKNOWN => "no module of that name in the installation's licenses",
    BULK_REFUSED => "a bulk change of which some items were refused: nothing was changed; `errors` lists each",
    BATCH_INVALID => "a batch with malformed items: nothing was taken; `errors` lists each",
    BATCH_SIZE => "a batch with too few or too many items",
    // The access check's reasons and warnings.
    MISSING_LICENSE => "(a check's reason, as `MISSING_LICENSE:<module>`) the module is not held, not licensed, or its row failed its signature check",
    USER_UNKNOWN => "no such user",
    USER_INACTIVE => "the user is deactivated",
    NO_LOGIN_RIGHTS => "the user has no login rights",
    NOT_A_USER_LICENSE => "the module asked for as a user license is another kind",
    NOT_A_SYSTEM_LICENSE => "the module asked for as a system license is another kind",
    CLOCK_SET_BACK => "(a check's reason) the clock is more than a day behind the latest time the installation has seen",
    OWNER_UNKNOWN => "(a check's reason) the owner named is not an owner of this installation",
    DEMO_MODE => "(a check's warning) the installation runs as a demo, without a license",
    DEMO_EXPIRED => "the demo period is over: a license is needed",
    NO_LOGIN_EVENT => "a No Login system event is active: only administrators may log in",
    LICENSE_IN_GRACE => "(a warning) past the license's expiration, before its grace date",
    LICENSE_EXPIRING => "(a warning, administrators only) past the license's admin warning date",
    // Users, sessions and logins.
    ALREADY_EXISTS => "something with that name or id already exists",
    LAST_ADMINISTRATOR => "the change would leave no active administrator",
    ADMINISTRATOR_PROTECTED => "(SCIM, with scimType mutability) an administrator is not deactivated or deleted over SCIM",
    LOGIN_FAILED => "wrong login or password",
    LOGINS_COLLIDE => "upgrading a database that holds two logins differing only in case (the pairs are named): rename one of each",
    PASSWORD_TOO_SHORT => "a password of fewer than 8 characters (or more than 1024)",
    PASSWORD_HASH_FAILED => "the password could not be hashed",
    RATE_LIMITED => "too many failed logins from this address for this account: wait `Retry-After` seconds",
    SESSION_REQUIRED => "the route needs a logged-in session",
    CSRF_FAILED => "a form or request without the session's CSRF token",
    LOGIN_CSRF_FAILED => "the login form's CSRF token does not match its cookie (reload the page)",
    UNAUTHENTICATED => "no valid token or session",
    FORBIDDEN => "the token's scope or the user's role does not allow this",
    // Requests.
    INVALID_INPUT => "a value that breaks a rule (the message names it)",
    INVALID_QUERY => "an unknown query parameter or a bad value in one",
    INVALID_BODY => "a body that is not the JSON described",
    BODY_TOO_LARGE => "a body over 1 MiB",
    NOT_FOUND => "no such resource",
    CONFLICT => "the data changed meanwhile; try again",
    OVERLOADED => "the server is at its limit of requests at once: try again after `Retry-After`",
    REQUEST_TIMEOUT => "the request took longer than the request timeout; its transaction rolled back",
    SERVER_ERROR => "the server failed; the log says why",
    TEMPLATE_ERROR => "a page could not be rendered",
    METRICS_FAILED => "the metrics could not be written",
    // System events and metering.
    EVENT_ID_INVALID => "a usage event id that is empty or too long",
    EVENT_ENDS_ITSELF => "a system message that ends by itself once its cause is gone (a pending license, a tampered license) cannot be ended by hand",
    SERVICE_UNKNOWN => "no metered service of that name",
    QUANTITY_INVALID => "a usage quantity that is not a whole number from 1 up",
    TIME_INVALID => "a time that is not RFC 3339",
    TIME_IN_FUTURE => "a usage event time ahead of the installation's clock",
    TIME_BEFORE_INSTALLATION => "a usage event time before the installation existed",
    // The issuer link.
    ISSUER_NOT_CONFIGURED => "the installation is not registered with an issuer",
    ISSUER_UNREACHABLE => "the issuer did not answer",
    ISSUER_REFUSED => "the issuer answered with an error",
    ISSUER_AUTH_FAILED => "(the issuer) a wrong serial number or installation secret",
    REGISTRATION_FAILED => "(the issuer) the serial number and owner do not belong together",
    SERIAL_UNKNOWN => "(the issuer) no customer with that serial number",
    TEMPLATE_MISSING => "(the issuer) customers are added on the admin pages only when the issuer was started with a license spec (`--template`)",
    // Files, database, configuration and the command line.
    FILE_NOT_FOUND => "a file named does not exist",
    FILE_UNREADABLE => "a file cannot be read",
    FILE_NOT_UTF8 => "a file is not UTF-8 text",
    FILE_TOO_LARGE => "a file is larger than lisens reads",
    FILE_UNWRITABLE => "a file cannot be written",
    CSV_MALFORMED => "an import file is not CSV or has a bad field; the message names the line",
    CSV_DUPLICATE => "an import file names a login twice",
    CSV_EMPTY => "an import file has no rows",
    DATABASE_URL_INVALID => "a database URL other than sqlite://PATH or postgres://...",
    DATABASE_ERROR => "the database failed; the log says why",
    DATABASE_UNAVAILABLE => "(health) the database does not answer",
    DATABASE_READ_ONLY => "the database may only be read: reads work, changes are refused",
    DATABASE_IN_USE => "`restore` while a process has the SQLite database open, or a process started while `restore` replaces it",
    DATABASE_LOCK_FAILED => "the lock file beside a SQLite database cannot be opened or locked",
    DATABASE_EXISTS => "`restore` would replace an existing database without `--force`",
    BACKUP_INVALID => "`restore` was given a file that is not a sound lisens database",
    BACKUP_UNSUPPORTED => "`backup` of a PostgreSQL database (use pg_dump)",
    RESTORE_UNSUPPORTED => "`restore` into a PostgreSQL database (use pg_restore)",
    RESTORE_FAILED => "the backup could not be moved into place",
    CONFIG_INVALID => "a setting with an invalid value, or an unknown key in the settings file (the message names it)",
    CONFIG_UNREADABLE => "the settings file named cannot be read",
    LISTEN_FAILED => "the server cannot listen on the address",
    RUNTIME_ERROR => "the command's runtime could not start",
    USAGE => "an unknown command or flag, or a value of the wrong kind (exit code 2)",
    ARGUMENT_NOT_UTF8 => "a command-line argument is not UTF-8 text",
}

/// The entry of a code as given (`MISSING_LICENSE:web` is `MISSING_LICENSE`).
pub fn lookup(code: &str) -> Option<&'static (&'static str, &'static str)> {
    let base = code.split(':').next().unwrap_or(code);
    ALL.iter().find(|(c, _)| *c == base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_upper_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for (code, when) in ALL {
            assert!(seen.insert(*code), "{code} twice");
            assert!(
                code.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                "{code}"
            );
            assert!(!when.is_empty());
        }
        assert_eq!(lookup("MISSING_LICENSE:web").map(|e| e.0), Some(MISSING_LICENSE));
        assert!(lookup("NO_SUCH_CODE").is_none());
    }
}
