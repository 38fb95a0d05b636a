//! The words on the screens, read from the translations themselves: every
//! error code has a sentence of its own in all four languages (not the
//! English one again), and the help pages' terms are the screens' terms.

use std::collections::HashMap;

const LANGUAGES: [&str; 4] = ["en-US", "sv", "da", "nb"];

/// `key = value` of one language's messages (single-line messages; the
/// catalogue has no other kind).
fn messages(lang: &str) -> HashMap<String, String> {
    let path = format!("{}/locales/{lang}/main.ftl", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with(' '))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

#[test]
fn every_error_code_has_a_sentence_in_every_language() {
    let all: HashMap<&str, HashMap<String, String>> = LANGUAGES.iter().map(|l| (*l, messages(l))).collect();
    let mut missing = Vec::new();
    for (code, _) in lisens_core::codes::ALL {
        let key = format!("error-{code}");
        let english = all["en-US"].get(&key);
        for lang in LANGUAGES {
            match all[lang].get(&key) {
                None => missing.push(format!("{lang}: {key}")),
                Some(s) if s.is_empty() || s.contains(code) => missing.push(format!("{lang}: {key} = {s}")),
                Some(s) if lang != "en-US" && Some(s) == english => {
                    missing.push(format!("{lang}: {key} is the English sentence"))
                }
                Some(_) => {}
            }
        }
        // And the loader reads it (the file parses, the message resolves).
        for lang in ["en", "sv", "da", "nb"] {
            let t = lisens_server::i18n::Tr::new(lang);
            // (A code that names something, MISSING_LICENSE, is read with a name.)
            let read = t
                .error_naming(code)
                .or_else(|| t.error_naming(&format!("{code}:payroll")));
            assert!(read.is_some_and(|s| !s.is_empty()), "{lang}: {code}");
        }
    }
    assert!(missing.is_empty(), "sentences missing:\n{}", missing.join("\n"));
}

/// The help pages' words ("Aktivera licens", "SuperOffice och licenser"
/// in Swedish; "Licenser" and the Status tab in Danish) are labels on the
/// screens, word for word.
#[test]
fn the_help_pages_words_are_the_screens_words() {
    let terms = [
        (
            "sv",
            &[
                "Licenser",
                "Status",
                "Systemmeddelanden",
                "Händelse",
                "Meddelande",
                "Aktiverat",
                "Aktiverad av",
                "Avslutat",
                "Typ",
                "Köp nya licenser",
                "Aktivera ny licens",
                "Ny licens aktiverad",
                "Aktivera",
                "Ta bort överflödiga licenser",
                "Läs in licens från fil",
                "Användarlicenser",
                "Medarbetare",
                "Tjänster med datapriser",
            ][..],
        ),
        (
            "da",
            &[
                "Licenser",
                "Status",
                "Systemmeddelelser",
                "Hændelse",
                "Meddelelse",
                "Aktiveret",
                "Aktiveret af",
                "Afsluttet",
                "Type",
            ][..],
        ),
    ];
    for (lang, words) in terms {
        let labels: Vec<String> = messages(lang).into_values().collect();
        for w in words {
            assert!(labels.iter().any(|l| l == w), "{lang}: no label reads {w:?}");
        }
    }
}
