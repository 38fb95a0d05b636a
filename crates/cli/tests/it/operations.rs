//! Operating an installation: the settings file and `config check`, and
//! backup / restore of the embedded database while it is being written.

use std::process::Command;

use crate::{fails_with, lisens, ok, p, sqlite_url};

/// `lisens` with only the given environment (no LISENS_DATABASE_URL).
fn bare(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lisens"));
    c.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("LISENS_") {
            c.env_remove(k);
        }
    }
    c.env("LISENS_LOG", "warn");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("run lisens")
}

#[test]
fn the_settings_file_is_used_shown_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("from-file.db");
    let file = dir.path().join("lisens.toml");
    std::fs::write(
        &file,
        format!(
            "database = \"sqlite://{}\"\ntime_zone = \"Europe/Oslo\"\nmetering_retention_days = 30\nsecure_cookies = true\n",
            db.display()
        ),
    )
    .unwrap();
    let cfg = p(&file);

    // The file's database is the one commands use.
    ok(&bare(&["--config", cfg, "user", "add", "anna"], &[]));
    assert!(db.exists(), "the database named in the file was created");
    let out = ok(&bare(&["--config", cfg, "config", "check"], &[]));
    assert!(out.contains(&format!("settings file: {cfg}")), "{out}");
    let line = |key: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no {key} in {out}"))
            .to_owned()
    };
    assert!(line("time_zone").contains("Europe/Oslo") && line("time_zone").contains("# file"));
    assert!(line("metering_retention_days").contains("30"));
    assert!(line("listen").contains("127.0.0.1:8080") && line("listen").contains("# default"));

    // The environment overrides the file, and secrets are masked.
    let out = ok(&bare(
        &["--config", cfg, "config", "check"],
        &[
            ("LISENS_TIME_ZONE", "+01:00"),
            (
                "LISENS_DATABASE_URL",
                "postgres://lisens:s3cret-pw@db.example.com:5432/lisens",
            ),
        ],
    ));
    assert!(out.contains("# environment LISENS_TIME_ZONE"), "{out}");
    assert!(
        !out.contains("s3cret-pw") && out.contains("postgres://lisens:***@db.example.com"),
        "{out}"
    );

    // An invalid value is named and fails the check; unknown keys and bad
    // syntax stop every command with a code.
    std::fs::write(&file, "time_zone = \"Mars/Olympus\"\nlisten = \"nowhere\"\n").unwrap();
    let out = bare(&["--config", cfg, "config", "check"], &[]);
    fails_with(&out, "CONFIG_INVALID");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("time_zone") && text.contains("INVALID"), "{text}");
    std::fs::write(&file, "colour = \"blue\"\n").unwrap();
    fails_with(&bare(&["--config", cfg, "user", "list"], &[]), "CONFIG_INVALID");
    std::fs::write(&file, "database = [\n").unwrap();
    fails_with(&bare(&["--config", cfg, "user", "list"], &[]), "CONFIG_INVALID");
    fails_with(
        &bare(
            &["--config", p(&dir.path().join("missing.toml")), "user", "list"],
            &[],
        ),
        "CONFIG_UNREADABLE",
    );
    // A bad number in the environment stops every command, naming the
    // setting and its variable, instead of falling back to the default.
    let url = format!("sqlite://{}", db.display());
    for bad in ["abc", "0", "2.5", "-1"] {
        let out = bare(
            &["user", "list"],
            &[("LISENS_MAX_IN_FLIGHT", bad), ("LISENS_DATABASE_URL", &url)],
        );
        fails_with(&out, "CONFIG_INVALID");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("max_in_flight (LISENS_MAX_IN_FLIGHT)"),
            "{bad}: {err}"
        );
    }
    // A flag beats the environment, which beats the file.
    std::fs::write(&file, "database = \"sqlite:///nonexistent/dir/x.db\"\n").unwrap();
    let out = ok(&bare(
        &["--config", cfg, "--database", &url, "user", "list"],
        &[("LISENS_DATABASE_URL", "sqlite:///nonexistent/other.db")],
    ));
    assert!(out.contains("anna"), "{out}");
    // Without --config, LISENS_CONFIG names the file.
    std::fs::write(&file, "log_format = \"xml\"\n").unwrap();
    fails_with(
        &bare(&["config", "check"], &[("LISENS_CONFIG", cfg)]),
        "CONFIG_INVALID",
    );
}

#[test]
fn a_backup_taken_during_writes_restores_a_consistent_installation() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    for login in ["anna", "bo"] {
        ok(&lisens(&["user", "add", login], &db));
    }
    // Writers keep adding users while the backup runs.
    let writer_db = db.clone();
    let writer = std::thread::spawn(move || {
        for i in 0..6 {
            ok(&lisens(&["user", "add", &format!("w{i}")], &writer_db));
        }
    });
    let backup = dir.path().join("backup.db");
    std::thread::sleep(std::time::Duration::from_millis(100));
    let out = ok(&lisens(&["backup", "--out", p(&backup)], &db));
    assert!(out.contains("consistent copy"), "{out}");
    writer.join().unwrap();
    fails_with(&lisens(&["backup", "--out", p(&backup)], &db), "ALREADY_EXISTS");

    // Restore into a new place: the users of the snapshot, none half-written.
    let restored = format!("sqlite://{}", dir.path().join("restored.db").display());
    let out = ok(&lisens(&["restore", "--from", p(&backup)], &restored));
    assert!(out.contains("user(s)"), "{out}");
    let listed = ok(&lisens(&["user", "list"], &restored));
    assert!(listed.contains("anna") && listed.contains("bo"), "{listed}");
    let all = ok(&lisens(&["user", "list"], &db));
    assert!(listed.lines().count() <= all.lines().count());

    // Restoring over a database needs --force; a damaged backup is refused
    // and changes nothing.
    fails_with(
        &lisens(&["restore", "--from", p(&backup)], &db),
        "DATABASE_EXISTS",
    );
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"this is not a database").unwrap();
    fails_with(
        &lisens(&["restore", "--from", p(&junk), "--force"], &db),
        "BACKUP_INVALID",
    );
    assert_eq!(ok(&lisens(&["user", "list"], &db)), all);
    ok(&lisens(&["restore", "--from", p(&backup), "--force"], &db));
    assert_eq!(ok(&lisens(&["user", "list"], &db)), listed);

    // Every change made from the command line is in the audit log, with the
    // operating-system user; reads are not.
    let audit: serde_json::Value =
        serde_json::from_str(&ok(&lisens(&["audit", "--json", "--limit", "1000"], &db))).unwrap();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.first(), Some(&"cli restore"), "{actions:?}");
    assert!(actions.contains(&"cli user add"), "{actions:?}");
    assert!(!actions.iter().any(|a| a.contains("list")));
    assert!(audit[0]["actor"].as_str().unwrap().starts_with("cli:"));
    assert_eq!(audit[0]["address"], "local");
    fails_with(&lisens(&["audit", "--since", "yesterday"], &db), "INVALID_INPUT");

    // PostgreSQL installations are told to use pg_dump / pg_restore.
    let pg = "postgres://postgres@127.0.0.1:5432/test";
    fails_with(
        &lisens(&["restore", "--from", p(&backup)], pg),
        "RESTORE_UNSUPPORTED",
    );
    let out = dir.path().join("pg.db");
    fails_with(&lisens(&["backup", "--out", p(&out)], pg), "BACKUP_UNSUPPORTED");
}

#[test]
fn restore_is_refused_while_a_server_uses_the_database() {
    use crate::soak::{free_port, serve, wait_healthy};
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    ok(&lisens(&["user", "add", "anna"], &db));
    let backup = dir.path().join("backup.db");
    ok(&lisens(&["backup", "--out", p(&backup)], &db));
    ok(&lisens(&["user", "add", "bo"], &db));
    let with_bo = ok(&lisens(&["user", "list"], &db));

    // Two servers share the database (and the lock) without trouble.
    let (pa, pb) = (free_port(), free_port());
    let (mut a, mut b) = (serve(&db, pa), serve(&db, pb));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    rt.block_on(async {
        wait_healthy(&client, &format!("http://127.0.0.1:{pa}")).await;
        wait_healthy(&client, &format!("http://127.0.0.1:{pb}")).await;
    });
    let stderr = fails_with(
        &lisens(&["restore", "--from", p(&backup), "--force"], &db),
        "DATABASE_IN_USE",
    );
    assert!(stderr.contains("stop it first"), "{stderr}");
    assert_eq!(ok(&lisens(&["user", "list"], &db)), with_bo, "nothing replaced");
    assert!(
        !dir.path().join("lisens.restoring").exists(),
        "nothing staged either"
    );

    // One server stopped is not enough; both stopped, restore works.
    a.kill().unwrap();
    a.wait().unwrap();
    fails_with(
        &lisens(&["restore", "--from", p(&backup), "--force"], &db),
        "DATABASE_IN_USE",
    );
    b.kill().unwrap();
    b.wait().unwrap();
    let out = ok(&lisens(&["restore", "--from", p(&backup), "--force"], &db));
    assert!(out.contains("1 user(s)"), "{out}");
    let listed = ok(&lisens(&["user", "list"], &db));
    assert!(listed.contains("anna") && !listed.contains("bo"), "{listed}");
    assert!(
        !dir.path().join("lisens.restoring.lock").exists(),
        "the staging copy's lock file is cleaned up"
    );
}

/// What an operator installs beside the binary is generated from the same
/// command definitions: shell completions and the manual page; and logs
/// written to a file or journald carry no terminal colour codes.
#[test]
fn completions_the_manual_page_and_plain_logs() {
    for shell in ["bash", "zsh", "fish"] {
        let out = ok(&bare(&["completions", shell], &[]));
        assert!(
            out.contains("lisens") && out.contains("license") && out.contains("remove-excess"),
            "{shell}: {out:.300}"
        );
    }
    let tcsh = bare(&["completions", "tcsh"], &[]);
    assert_eq!(tcsh.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&tcsh.stderr).contains("error[USAGE]"));
    let man = ok(&bare(&["man"], &[]));
    assert!(man.starts_with(".ie") || man.contains(".TH lisens"), "{man:.300}");
    assert!(man.contains("license") && man.contains("issuer"), "{man:.300}");

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let out = bare(
        &["user", "list"],
        &[("LISENS_DATABASE_URL", &url), ("LISENS_LOG", "debug")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("DEBUG"), "{err:.500}");
    assert!(
        !err.contains('\u{1b}'),
        "no ANSI escapes when stderr is not a terminal: {err:.300}"
    );
}

/// The systemd unit in dist/ starts a command this binary has, with a
/// setting it knows.
#[test]
fn the_systemd_unit_runs_a_real_command() {
    let unit =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../dist/lisens.service")).unwrap();
    let exec = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).unwrap();
    let mut words = exec.split_whitespace();
    assert!(words.next().unwrap().ends_with("/lisens"));
    let mut args: Vec<&str> = words.collect();
    args.push("--help");
    ok(&bare(&args, &[]));
    assert!(unit.contains("Environment=LISENS_CONFIG="));
}

/// The container image in dist/ runs a command this binary has, and the
/// settings its environment sets pass `config check`.
#[test]
fn the_container_image_runs_a_real_command_with_valid_settings() {
    let file =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../dist/Containerfile")).unwrap();
    // Instructions, with continued lines joined.
    let joined = file.replace("\\\n", " ");
    let instruction = |name: &str| {
        joined
            .lines()
            .filter_map(|l| l.strip_prefix(name))
            .next_back()
            .unwrap_or_else(|| panic!("no {name}"))
            .trim()
            .to_owned()
    };
    let exec_form = |v: String| -> Vec<String> { serde_json::from_str(&v).unwrap() };
    let entrypoint = exec_form(instruction("ENTRYPOINT "));
    let cmd = exec_form(instruction("CMD "));
    assert_eq!(entrypoint, ["/usr/local/bin/lisens"]);
    let mut args: Vec<&str> = cmd.iter().map(String::as_str).collect();
    args.push("--help");
    ok(&bare(&args, &[]));
    let env: Vec<(String, String)> = instruction("ENV ")
        .split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    assert!(env.iter().any(|(k, _)| k == "LISENS_LISTEN"));
    // The image's database path is its volume's; here a temporary one.
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("lisens.db").display());
    let envs: Vec<(&str, &str)> = env
        .iter()
        .map(|(k, v)| {
            if k == "LISENS_DATABASE_URL" {
                (k.as_str(), db.as_str())
            } else {
                (k.as_str(), v.as_str())
            }
        })
        .collect();
    let out = ok(&bare(&["config", "check"], &envs));
    assert!(out.contains("0.0.0.0:8080"), "{out}");
}

/// `lisens ... | head`: a reader that goes away ends the command quietly
/// (exit 0, nothing on standard error), never with a panic report.
#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    ok(&lisens(&["license", "status"], &db));
    for args in [
        &["config", "check"][..],
        &["license", "status", "--json"],
        &["user", "list"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lisens"))
            .args(args)
            .env("LISENS_DATABASE_URL", &db)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader is gone before the command prints its first line.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}
