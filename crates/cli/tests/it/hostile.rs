//! A corpus of hostile files handed to every command that reads one: empty,
//! truncated, not UTF-8, NUL bytes, SQL injection text, over the size limit,
//! a directory, a system file, a path that climbs out of the directory. Each
//! must fail with a stable code (`error[CODE]`), never a panic, and leave
//! the stored data exactly as it was (and write no output file).

use std::path::{Path, PathBuf};

use crate::{lisens, ok, p, sqlite_url, DEMO_SPEC};

/// What an operator can see of the data: license, users, usage, audit log.
fn snapshot(db: &str) -> String {
    let mut s = String::new();
    for args in [
        &["license", "status", "--json"][..],
        &["user", "list", "--json"],
        &["metering", "report", "--json"],
        &["audit", "--json", "--limit", "1000"],
    ] {
        s.push_str(&ok(&lisens(args, db)));
    }
    s
}

/// The hostile files, named; `valid` is a good input for the command, so
/// truncating it gives a plausible half. Half a CSV file is a smaller valid
/// one, so CSV commands get a quote that never closes instead.
fn corpus(dir: &Path, valid: &[u8], csv: bool) -> Vec<(&'static str, PathBuf)> {
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let huge = dir.join("huge");
    // Sparse: over the 64 MiB input limit without writing 64 MiB.
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(65 * 1024 * 1024)
        .unwrap();
    let subdir = dir.join("a-directory");
    std::fs::create_dir_all(&subdir).unwrap();
    vec![
        ("empty", write("empty", b"")),
        if csv {
            let mut unclosed = valid.to_vec();
            let header_end = unclosed.iter().position(|b| *b == b'\n').unwrap() + 1;
            unclosed.insert(header_end, b'"');
            ("an unclosed quote", write("unclosed", &unclosed))
        } else {
            ("truncated", write("truncated", &valid[..valid.len() / 2]))
        },
        ("not UTF-8", write("latin1", b"login\n\xe5sa,\xc5sa Berg\n\xff\xfe\x00")),
        ("NUL bytes", write("nul", b"login,name\nal\0ice,A\0\n")),
        (
            "SQL injection",
            write(
                "inject",
                b"login,name,email,plan\nrobert');DROP TABLE associate;--,x,y,z\n'; DELETE FROM module_license; --\n",
            ),
        ),
        ("over the size limit", huge),
        ("a directory", subdir),
        ("a system file", PathBuf::from("/etc/passwd")),
        ("a path climbing out", dir.join("../../../../../../../../nonexistent/../etc/shadow")),
    ]
}

#[test]
fn every_command_that_reads_a_file_refuses_hostile_ones_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = sqlite_url(d);
    let run = |args: &[&str]| lisens(args, &db);
    ok(&run(&["issuer", "keygen", "--dir", p(d)]));
    let (key, public) = (d.join("issuer.key"), d.join("issuer.pub"));
    let lic = d.join("demo.lic");
    ok(&run(&[
        "issuer",
        "issue",
        "--key",
        p(&key),
        "--spec",
        DEMO_SPEC,
        "--out",
        p(&lic),
    ]));
    ok(&run(&["license", "load", p(&lic), "--public-key", p(&public)]));
    ok(&run(&["user", "add", "anna"]));
    ok(&run(&["metering", "emit", "chat_sessions", "3", "--id", "e1"]));
    let backup = d.join("good.backup");
    ok(&run(&["backup", "--out", p(&backup)]));
    let before = snapshot(&db);

    let hostile_dir = d.join("hostile");
    std::fs::create_dir_all(&hostile_dir).unwrap();
    let out = d.join("never-written.lic");
    let valid = |path: &Path| std::fs::read(path).unwrap();
    let users_csv = b"login,name,email\nbo,Bo,bo@example.com\ncarl,Carl,carl@example.com\n".to_vec();
    let usage_csv = b"id,service,quantity,occurred_at\nz1,chat_sessions,1,2026-11-25T10:00:00Z\n".to_vec();
    let rotation = d.join("rotation.txt");
    ok(&run(&[
        "issuer",
        "rotate-key",
        "--key",
        p(&key),
        "--new-public-key",
        p(&public),
        "--owner",
        "SuperOffice",
        "--out",
        p(&rotation),
    ]));
    // (command with FILE where the hostile file goes, a valid input for it)
    let commands: Vec<(Vec<&str>, Vec<u8>)> = vec![
        (
            vec!["license", "trust-key", "--statement", "FILE"],
            valid(&rotation),
        ),
        (
            vec!["license", "load", "FILE", "--public-key", p(&public)],
            valid(&lic),
        ),
        (
            vec!["license", "verify", "FILE", "--public-key", p(&public)],
            valid(&lic),
        ),
        (vec!["license", "inspect", "FILE"], valid(&lic)),
        (
            vec!["license", "load", p(&lic), "--public-key", "FILE"],
            valid(&public),
        ),
        (vec!["user", "import", "FILE"], users_csv),
        (vec!["metering", "import", "FILE"], usage_csv),
        (
            vec![
                "issuer",
                "issue",
                "--key",
                p(&key),
                "--spec",
                "FILE",
                "--out",
                p(&out),
            ],
            valid(Path::new(DEMO_SPEC)),
        ),
        (
            vec![
                "issuer",
                "issue",
                "--key",
                "FILE",
                "--spec",
                DEMO_SPEC,
                "--out",
                p(&out),
            ],
            valid(&key),
        ),
        (vec!["restore", "--from", "FILE", "--force"], valid(&backup)),
        (
            vec!["--config", "FILE", "user", "list"],
            b"[settings]\nlog = \"warn\"\n".to_vec(),
        ),
    ];
    let mut cases = 0;
    for (command, good) in &commands {
        let case_dir = hostile_dir.join(cases.to_string());
        std::fs::create_dir_all(&case_dir).unwrap();
        let csv = command.contains(&"import");
        for (what, file) in corpus(&case_dir, good, csv) {
            if command[0] == "--config" && what == "empty" {
                continue; // An empty settings file is valid: every default.
            }
            let args: Vec<&str> = command
                .iter()
                .map(|a| if *a == "FILE" { p(&file) } else { a })
                .collect();
            let result = run(&args);
            let stderr = String::from_utf8_lossy(&result.stderr);
            let shown = format!("lisens {} with {what}", command.join(" "));
            assert_eq!(result.status.code(), Some(1), "{shown}: {stderr}");
            assert!(!stderr.contains("panicked"), "{shown}: {stderr}");
            let code = stderr
                .split("error[")
                .nth(1)
                .and_then(|r| r.split(']').next())
                .unwrap_or_default();
            assert!(
                !code.is_empty()
                    && code
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                "{shown}: no stable code in {stderr}"
            );
            assert!(!out.exists(), "{shown}: wrote {}", out.display());
            assert_eq!(snapshot(&db), before, "{shown} changed the data");
            cases += 1;
        }
    }
    assert_eq!(cases, commands.len() * 9 - 1);
}

#[test]
fn hostile_arguments_get_a_stable_code_and_change_nothing() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    ok(&lisens(&["user", "add", "anna"], &db));
    let before = snapshot(&db);
    let long = "a".repeat(100_000);
    let latin1 = std::ffi::OsStr::from_bytes(b"\xe5sa");
    let cases: Vec<(Vec<&std::ffi::OsStr>, &str)> = vec![
        (vec!["user".as_ref(), "add".as_ref(), latin1], "ARGUMENT_NOT_UTF8"),
        (
            vec!["user".as_ref(), "add".as_ref(), long.as_ref()],
            "INVALID_INPUT",
        ),
        (
            vec![
                "user".as_ref(),
                "add".as_ref(),
                "robert');DROP TABLE associate;--".as_ref(),
            ],
            "INVALID_INPUT",
        ),
        (
            vec!["user".as_ref(), "add".as_ref(), "../../etc/passwd".as_ref()],
            "INVALID_INPUT",
        ),
        (
            vec!["user".as_ref(), "deactivate".as_ref(), "' OR '1'='1".as_ref()],
            "USER_UNKNOWN",
        ),
        (
            vec![
                "metering".as_ref(),
                "emit".as_ref(),
                "chat_sessions".as_ref(),
                "-5".as_ref(),
            ],
            "USAGE",
        ),
        (vec!["bogus".as_ref()], "USAGE"),
        (
            vec![
                "license".as_ref(),
                "assign".as_ref(),
                "anna".as_ref(),
                "user".as_ref(),
                "--valid-to".as_ref(),
                "tomorrow".as_ref(),
            ],
            "USAGE",
        ),
        (
            vec!["audit".as_ref(), "--limit".as_ref(), "0".as_ref()],
            "INVALID_INPUT",
        ),
        (
            vec!["events".as_ref(), "end".as_ref(), "99999999999999999999".as_ref()],
            "USAGE",
        ),
    ];
    for (args, code) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_lisens"))
            .args(&args)
            .env("LISENS_DATABASE_URL", &db)
            .env("LISENS_LOG", "warn")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let shown = format!("lisens {args:?}");
        assert!(
            matches!(out.status.code(), Some(1 | 2)),
            "{shown}: {:?} {stderr}",
            out.status
        );
        assert!(
            stderr.contains(&format!("error[{code}]")),
            "{shown}: expected {code}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{shown}: {stderr}");
        assert_eq!(snapshot(&db), before, "{shown} changed the data");
    }
}
