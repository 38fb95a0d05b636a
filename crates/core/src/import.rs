//! CSV files operators import with the `lisens` command line: users
//! (`login,name,email,plan`) and usage events
//! (`id,service,quantity,occurred_at`), each with a header line. Every row is
//! checked here, so the command line can check a whole file before it
//! stores anything; a refusal names the line and carries a stable code.

use std::fmt;

use crate::codes;
use crate::metering::{check_event, CheckedEvent, EventRules};
use crate::{LoginName, ModuleName};

/// The longest full name and e-mail address a user may have.
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_EMAIL_CHARS: usize = 254;

/// A refused row: `CSV_MALFORMED` (not CSV, or a field that is not what
/// its column holds), `CSV_DUPLICATE` (a login twice in one file),
/// `CSV_EMPTY` (no rows), or the code of the metering check that refused an
/// event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub code: &'static str,
    /// 1 is the header line.
    pub line: u64,
    pub detail: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.detail)
    }
}

impl std::error::Error for ImportError {}

fn malformed(line: u64, detail: impl Into<String>) -> ImportError {
    ImportError {
        code: codes::CSV_MALFORMED,
        line,
        detail: detail.into(),
    }
}

/// One user to create, and the plan or user license to give them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub line: u64,
    pub login: LoginName,
    /// The login when the file leaves it empty.
    pub full_name: String,
    pub email: String,
    pub plan: Option<ModuleName>,
}

/// Reads a user file whole: every row valid and every login once, or the
/// first refused line.
pub fn parse_users(text: &str) -> Result<Vec<UserRow>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows: Vec<UserRow> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for record in reader.records() {
        let r = record.map_err(|e| malformed(e.position().map_or(0, |p| p.line()), e.to_string()))?;
        let line = r.position().map_or(0, |p| p.line());
        let field = |n: usize| r.get(n).unwrap_or("").trim();
        if r.len() > 4 {
            return Err(malformed(
                line,
                "a user line has at most 4 fields: login,name,email,plan",
            ));
        }
        let login = LoginName::parse(field(0)).map_err(|e| malformed(line, format!("login: {e}")))?;
        let (name, email) = (field(1), field(2));
        if name.chars().count() > MAX_NAME_CHARS || email.chars().count() > MAX_EMAIL_CHARS {
            return Err(malformed(line, "name or e-mail too long"));
        }
        if name.chars().chain(email.chars()).any(char::is_control) {
            return Err(malformed(
                line,
                "name and e-mail must not hold control characters",
            ));
        }
        let plan = match field(3) {
            "" => None,
            p => Some(ModuleName::parse(p).map_err(|e| malformed(line, format!("plan: {e}")))?),
        };
        if !seen.insert(LoginName::fold(login.as_str()).into_owned()) {
            return Err(ImportError {
                code: codes::CSV_DUPLICATE,
                line,
                detail: format!("{login} is in the file twice"),
            });
        }
        rows.push(UserRow {
            line,
            full_name: if name.is_empty() {
                login.to_string()
            } else {
                name.to_owned()
            },
            email: email.to_owned(),
            login,
            plan,
        });
    }
    if rows.is_empty() {
        return Err(ImportError {
            code: codes::CSV_EMPTY,
            line: 1,
            detail: "no users after the header line".into(),
        });
    }
    Ok(rows)
}

/// One usage event of a file, checked, and where in the file it ends (for a
/// progress bar).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub line: u64,
    pub end_byte: u64,
    pub event: CheckedEvent,
}

/// The usage events of a file, one at a time (files of millions of events
/// need not be held in memory twice), each checked as the metering API
/// checks an event.
pub fn usage_rows<'a>(
    text: &'a str,
    rules: EventRules<'a>,
) -> impl Iterator<Item = Result<UsageRow, ImportError>> + 'a {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    std::iter::from_fn(move || {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => None,
            Err(e) => Some(Err(malformed(
                e.position().map_or(line, |p| p.line()),
                e.to_string(),
            ))),
            Ok(true) => Some(usage_row(&record, &rules).map(|event| UsageRow {
                line: record.position().map_or(line, |p| p.line()),
                end_byte: reader.position().byte(),
                event,
            })),
        }
    })
}

fn usage_row(r: &csv::StringRecord, rules: &EventRules<'_>) -> Result<CheckedEvent, ImportError> {
    let line = r.position().map_or(0, |p| p.line());
    let field = |n: usize| r.get(n).unwrap_or("").trim();
    let quantity: i64 = field(2)
        .parse()
        .map_err(|_| malformed(line, "quantity is not an integer"))?;
    check_event(field(0), field(1), &quantity.into(), field(3), rules).map_err(|e| ImportError {
        code: e.code,
        line,
        detail: e.detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_read_with_their_line_numbers() {
        let rows = parse_users("login,name,email,plan\nalice,Alice A,a@x.se,crm\nbob,,,\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].line, rows[0].login.as_str()), (2, "alice"));
        assert_eq!(rows[0].plan.as_ref().map(ModuleName::as_str), Some("crm"));
        assert_eq!(
            (rows[1].full_name.as_str(), rows[1].plan.is_none()),
            ("bob", true)
        );
    }

    #[test]
    fn a_bad_user_line_is_named() {
        for (text, code, line) in [
            ("login\nalice\nal!ce\n", codes::CSV_MALFORMED, 3),
            ("login\nalice\n,Nobody\n", codes::CSV_MALFORMED, 3),
            ("login\na b\n", codes::CSV_MALFORMED, 2),
            ("login\nalice,A,a@x,crm,extra\n", codes::CSV_MALFORMED, 2),
            ("login\nalice,A\u{7},a@x\n", codes::CSV_MALFORMED, 2),
            ("login\nalice\nbob\nalice\n", codes::CSV_DUPLICATE, 4),
            ("login\nBoss\nboss\n", codes::CSV_DUPLICATE, 3),
            ("login,name\n", codes::CSV_EMPTY, 1),
            ("", codes::CSV_EMPTY, 1),
        ] {
            let e = parse_users(text).unwrap_err();
            assert_eq!((e.code, e.line), (code, line), "{text:?}: {e}");
        }
    }

    #[test]
    fn usage_rows_are_checked_like_the_api_checks_events() {
        let zone = crate::metering::Zone::utc();
        let now = time::OffsetDateTime::now_utc();
        let installed = now - time::Duration::days(30);
        let rules = EventRules {
            now,
            installed,
            zone: &zone,
            product: crate::Product::crm(),
        };
        let at = (now - time::Duration::days(1))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let good =
            format!("id,service,quantity,occurred_at\ne1,mailing_emails,3,{at}\ne2,mailing_emails,1,{at}\n");
        let rows: Vec<_> = usage_rows(&good, rules).collect::<Result<_, _>>().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[1].line, rows[1].event.quantity), (3, 1));
        assert_eq!(rows[1].end_byte, good.len() as u64);
        for (text, code) in [
            (
                format!("id,service,quantity,occurred_at\ne1,mailing_emails,x,{at}\n"),
                codes::CSV_MALFORMED,
            ),
            (
                format!("id,service,quantity,occurred_at\ne1,fax,1,{at}\n"),
                codes::SERVICE_UNKNOWN,
            ),
            (
                "id,service,quantity,occurred_at\ne1,mailing_emails,1,yesterday\n".to_owned(),
                codes::TIME_INVALID,
            ),
            (
                format!("id,service,quantity,occurred_at\ne1,mailing_emails,-1,{at}\n"),
                codes::QUANTITY_INVALID,
            ),
        ] {
            let e = usage_rows(&text, rules).find_map(Result::err).unwrap();
            assert_eq!((e.code, e.line), (code, 2), "{text:?}");
        }
    }
}
