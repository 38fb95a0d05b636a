//! The operator's commands: `config check`, `backup`, `restore` and `audit`,
//! and the CLI's own audit records: which commands change the installation's
//! data (`audited`) and writing their entry (`record_cli`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use lisens_core::codes;
use lisens_store::{Store, StoreError};

use crate::args::{Command, EventsCommand, LicenseCommand, SiteCommand, TokenCommand, UserCommand};
use crate::commands::serve::Db;
use crate::config;
use crate::failure::{report, Failure, Outcome};

/// The audit action of a command that changes the installation's data.
pub(crate) fn audited(c: &Command) -> Option<String> {
    let name = match c {
        Command::License(l) => match l {
            LicenseCommand::Register { .. } => "license register",
            LicenseCommand::TrustKey { .. } => "license trust-key",
            LicenseCommand::RetireKey { .. } => "license retire-key",
            LicenseCommand::CheckNow { .. } => "license check-now",
            LicenseCommand::Load { .. } => "license load",
            LicenseCommand::Activate { .. } => "license activate",
            LicenseCommand::RemoveExcess { .. } => "license remove-excess",
            LicenseCommand::Assign { .. } => "license assign",
            LicenseCommand::Unassign { .. } => "license unassign",
            _ => return None,
        },
        Command::User(u) => match u {
            UserCommand::Add { .. } => "user add",
            UserCommand::Deactivate { .. } => "user deactivate",
            UserCommand::Activate { .. } => "user activate",
            UserCommand::ResetPassword { .. } => "user reset-password",
            UserCommand::Import { .. } => "user import",
            UserCommand::List { .. } => return None,
        },
        Command::Site(s) => match s {
            SiteCommand::List { .. } => return None,
            _ => "site",
        },
        Command::Events(e) => match e {
            EventsCommand::Add { .. } => "events add",
            EventsCommand::End { .. } => "events end",
            EventsCommand::List { .. } => return None,
        },
        Command::Token(TokenCommand::Create { .. }) => "token create",
        Command::Token(TokenCommand::Revoke { .. }) => "token revoke",
        Command::Restore { .. } => "restore",
        _ => return None,
    };
    Some(format!("cli {name}"))
}

/// Records a command's change: the operating-system user, `local`, and the
/// arguments (the settings file and database URL left out: they may hold a
/// password).
pub(crate) async fn record_cli(database: &str, action: &str, args: &[String]) -> Outcome {
    let mut shown = Vec::new();
    let mut skip = false;
    for a in args.iter().skip(1) {
        if skip {
            skip = false;
            continue;
        }
        if a == "--database" || a == "--config" {
            skip = true;
            continue;
        }
        if a.starts_with("--database=") || a.starts_with("--config=") {
            continue;
        }
        shown.push(a.as_str());
    }
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let store = Store::open(database).await?;
    store
        .record_audit(&lisens_store::audit::NewAudit {
            actor: format!("cli:{user}"),
            address: "local".into(),
            action: action.to_owned(),
            target: String::new(),
            detail: shown.join(" "),
        })
        .await?;
    store.close().await;
    Ok(())
}

/// `lisens config check`: every setting, its effective value (database
/// passwords masked) and its source; exit 1 when any is invalid.
pub(crate) fn config_check(loaded: &config::Loaded) -> ExitCode {
    match &loaded.file {
        Some(f) => println!("settings file: {}", f.display()),
        None => println!("settings file: none (./lisens.toml not found, LISENS_CONFIG not set)"),
    }
    let mut problems = loaded.problems.clone();
    problems.extend(config::check_files(&loaded.config));
    for s in config::SETTINGS {
        let source = match loaded.sources.get(s.key) {
            Some(config::Source::Environment) => format!("environment {}", s.env),
            Some(config::Source::File) => "file".to_owned(),
            _ => "default".to_owned(),
        };
        let value = match loaded.shown.get(s.key).map(String::as_str) {
            None | Some("") => "(none)",
            Some(v) => v,
        };
        let bad: Vec<&str> = problems
            .iter()
            .filter(|(k, _)| *k == s.key)
            .map(|(_, why)| why.as_str())
            .collect();
        if bad.is_empty() {
            println!("{:<24} = {value:<40} # {source}; {}", s.key, s.about);
        } else {
            println!(
                "{:<24} = {value:<40} # {source}; INVALID: {}",
                s.key,
                bad.join("; ")
            );
        }
    }
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        report(Failure::new(
            codes::CONFIG_INVALID,
            format!("{} setting(s) are invalid", problems.len()),
        ))
    }
}

/// `lisens backup`: a consistent copy of the (SQLite) database, while the server runs.
pub(crate) async fn backup(db: &Db, config: &config::Config, out: PathBuf) -> Outcome {
    if !config.database.starts_with("sqlite://") {
        return Err(Failure::new(
            codes::BACKUP_UNSUPPORTED,
            "lisens backup copies SQLite databases; for PostgreSQL use pg_dump (docs/operations.md)",
        ));
    }
    let store = db.open().await?;
    store.backup_to(&out).await?;
    store.close().await;
    println!(
        "wrote a consistent copy of {} to {}",
        config::mask_url(&config.database),
        out.display()
    );
    Ok(())
}

/// `lisens restore`: checks the backup (integrity, migrations, every license
/// row's signature is read) and moves it into place atomically.
pub(crate) async fn restore(database: &str, from: &Path, force: bool) -> Outcome {
    let target = lisens_store::backup::sqlite_path(database).ok_or_else(|| {
        Failure::new(
            codes::RESTORE_UNSUPPORTED,
            "lisens restore puts back SQLite backups; for PostgreSQL use pg_restore (docs/operations.md)",
        )
    })?;
    if !from.is_file() {
        return Err(Failure::new(
            codes::FILE_NOT_FOUND,
            format!("{}: no such file", from.display()),
        ));
    }
    if target.exists() && !force {
        return Err(Failure::new(
            codes::DATABASE_EXISTS,
            format!(
                "{} exists: stop the server and pass --force to replace it",
                target.display()
            ),
        ));
    }
    // Held until the backup is in place: refused while a server uses the
    // database (it would go on writing to the replaced file).
    let _lock = lisens_store::backup::lock_for_restore(&target)?;
    // Check a copy, so the backup itself is never changed (opening applies
    // migrations when the backup is from an older release).
    let staging = target.with_extension("restoring");
    let _ = std::fs::remove_file(&staging);
    std::fs::copy(from, &staging)
        .map_err(|e| Failure::new(codes::FILE_UNREADABLE, format!("{}: {e}", from.display())))?;
    if !lisens_store::backup::is_lisens_database(&staging)
        .await
        .unwrap_or(false)
    {
        let _ = std::fs::remove_file(&staging);
        return Err(Failure::new(
            codes::BACKUP_INVALID,
            format!(
                "{}: not a lisens database (made by lisens backup)",
                from.display()
            ),
        ));
    }
    let checked = async {
        let store = Store::open(&format!("sqlite://{}", staging.display())).await?;
        store.integrity_check().await?;
        let status = store.license_status().await?;
        let users = store.list_associates().await?.len();
        store.close().await;
        Ok::<_, StoreError>((status, users))
    }
    .await;
    let _ = std::fs::remove_file(lisens_store::backup::lock_path(&staging));
    let (status, users) = match checked {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&staging);
            return Err(Failure::new(
                codes::BACKUP_INVALID,
                format!("{}: {e}", from.display()),
            ));
        }
    };
    std::fs::rename(&staging, &target)
        .map_err(|e| Failure::new(codes::RESTORE_FAILED, format!("{}: {e}", target.display())))?;
    // The replaced database's write-ahead log must not be applied to the
    // restored file (the server is stopped, so nothing has it open).
    for suffix in ["-wal", "-shm"] {
        let mut side = target.clone().into_os_string();
        side.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(side));
    }
    let modules: usize = status.owners.iter().map(|o| o.modules.len()).sum();
    println!(
        "restored {} from {}: {} owner(s), {modules} module row(s), {users} user(s)",
        target.display(),
        from.display(),
        status.owners.len()
    );
    Ok(())
}

/// `lisens audit`: the audit log, newest first.
pub(crate) async fn audit(
    db: &Db,
    since: Option<String>,
    actor: Option<String>,
    limit: i64,
    json: bool,
) -> Outcome {
    let since = since
        .map(|s| {
            lisens_store::stamp::parse_rfc3339(&s)
                .ok_or_else(|| Failure::new(codes::INVALID_INPUT, format!("--since {s:?} is not RFC 3339")))
        })
        .transpose()?;
    if !(1..=10_000).contains(&limit) {
        return Err(Failure::new(codes::INVALID_INPUT, "--limit is 1 to 10000"));
    }
    let store = db.open().await?;
    let entries = store
        .audit_log(&lisens_store::audit::AuditFilter { since, actor }, 0, limit)
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&entries).unwrap_or_default());
    } else {
        for e in &entries {
            println!(
                "{} {} from {}: {} {} {}",
                e.at, e.actor, e.address, e.action, e.target, e.detail
            );
        }
    }
    Ok(())
}
