//! CSV for people: the exports an administrator opens in a spreadsheet (the
//! audit log, a month's usage). Written with the `csv` crate (quoting), with
//! the one formula guard: a field a spreadsheet would run as a formula (it
//! starts with `=`, `+`, `-`, `@`, a TAB or a CR) is prefixed with `'`, so an
//! attacker who controls a logged value cannot make the export run code.

/// One field as written: formulas defused.
pub fn defuse(field: &str) -> std::borrow::Cow<'_, str> {
    if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{field}").into()
    } else {
        field.into()
    }
}

/// A CSV document: the header line, then each row, every field defused and
/// quoted as CSV needs.
pub fn csv_table<R, F>(header: &[&str], rows: R) -> String
where
    R: IntoIterator<Item = Vec<F>>,
    F: AsRef<str>,
{
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to memory does not fail; a row of another width is the
    // caller's bug, and the record is written as it is.
    let _ = out.write_record(header);
    for row in rows {
        let _ = out.write_record(row.iter().map(|f| defuse(f.as_ref()).into_owned()));
    }
    let bytes = out.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_fields_quoted() {
        let text = csv_table(
            &["a", "b"],
            [
                vec!["=HYPERLINK(\"x\")", "plain"],
                vec!["\tcmd", "+1"],
                vec!["\r@SUM(A1)", "-2"],
                vec!["with,comma", "line\nbreak"],
            ],
        );
        assert_eq!(
            text,
            "a,b\n\"'=HYPERLINK(\"\"x\"\")\",plain\n'\tcmd,'+1\n\"'\r@SUM(A1)\",'-2\n\"with,comma\",\"line\nbreak\"\n"
        );
    }
}
