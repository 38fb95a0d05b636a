//! The error-code registry is the one place codes are written: the docs list
//! exactly its codes, and no product source spells a code as a literal.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use lisens_core::codes;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_error_codes_page_lists_exactly_the_registry() {
    let page = std::fs::read_to_string(workspace().join("docs/error-codes.md")).unwrap();
    let listed: Vec<(&str, &str)> = page
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` | "))
        .map(|(code, rest)| (code, rest.trim_end_matches(" |")))
        .collect();
    let registry: Vec<(&str, &str)> = codes::ALL.to_vec();
    let missing: Vec<_> = registry.iter().filter(|e| !listed.contains(e)).collect();
    let extra: Vec<_> = listed.iter().filter(|e| !registry.contains(e)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/error-codes.md must list crates/core/src/codes.rs: missing {missing:?}, not in the registry {extra:?}"
    );
    assert_eq!(listed, registry, "the same order");
}

/// String literals that look like codes (`"UPPER_SNAKE"`), outside
/// attributes, comments and the registry itself.
fn code_literals(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("#[") || t.starts_with("//") {
            continue;
        }
        let bytes = line.as_bytes();
        let mut i = 0;
        while let Some(start) = line[i..].find('"').map(|s| s + i) {
            let Some(end) = line[start + 1..].find('"').map(|e| e + start + 1) else {
                break;
            };
            let inner = &line[start + 1..end];
            let escaped = start > 0 && bytes[start - 1] == b'\\';
            if !escaped
                && inner.len() > 3
                && inner.contains('_')
                && inner
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && inner.starts_with(|c: char| c.is_ascii_uppercase())
                && !inner.starts_with("LISENS_")
                && !inner.starts_with("CARGO_")
            {
                found.push(inner.to_owned());
            }
            i = end + 1;
        }
    }
    found
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn product_code_names_codes_only_through_the_registry() {
    let mut files = Vec::new();
    for krate in ["core", "store", "server", "issuer", "cli"] {
        sources(&workspace().join("crates").join(krate).join("src"), &mut files);
    }
    let known: BTreeSet<&str> = codes::ALL.iter().map(|(c, _)| *c).collect();
    let mut wrong = Vec::new();
    for f in files.iter().filter(|f| !f.ends_with("core/src/codes.rs")) {
        for lit in code_literals(&std::fs::read_to_string(f).unwrap()) {
            let why = if known.contains(lit.as_str()) {
                "write it as codes::"
            } else {
                "add it to crates/core/src/codes.rs and docs/error-codes.md: "
            };
            wrong.push(format!("{}: {why}{lit}", f.display()));
        }
    }
    assert!(files.len() > 50, "the sources were found");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
