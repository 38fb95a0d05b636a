//! The one time codec of the database: every instant is stored as RFC 3339
//! text in UTC with whole seconds (`2026-11-29T12:00:00Z`), so text order is
//! time order on both backends, and every query binds a parsed time encoded
//! here, never text taken from outside. Signed times (`issued_at`) are whole
//! seconds in UTC already (see `lisens_core::spec`), so they round-trip.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::StoreError;

/// The stored text of an instant.
pub fn encode(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .replace_nanosecond(0)
        .expect("0 is a valid nanosecond")
        .format(&Rfc3339)
        .expect("RFC 3339 formats any UTC time")
}

/// The installation's time now (`crate::clock::now`), encoded.
pub fn now() -> String {
    encode(crate::clock::now())
}

/// Reads a stored instant; `column` names it in the error.
pub fn decode(column: &str, text: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| StoreError::Invalid(format!("{column}: {text:?} is not a stored time: {e}")))
}

/// Parses an RFC 3339 time given by a person or a program (any offset);
/// `None` when it is not one.
pub fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_order_is_time_order_whatever_the_offset_or_fraction() {
        let times = [
            "2026-11-29T12:00:00.9+02:00",
            "2026-11-29T10:00:00Z",
            "2026-11-29T10:00:00.5Z",
            "2026-11-29T09:59:59.999-00:01",
            "2026-11-29T11:30:00+01:00",
        ];
        let parsed: Vec<OffsetDateTime> = times.iter().map(|t| parse_rfc3339(t).unwrap()).collect();
        let mut by_time = parsed.clone();
        by_time.sort();
        let mut by_text: Vec<String> = parsed.iter().map(|t| encode(*t)).collect();
        by_text.sort();
        let encoded: Vec<String> = by_time.iter().map(|t| encode(*t)).collect();
        assert_eq!(by_text, encoded);
        assert_eq!(encode(parsed[0]), "2026-11-29T10:00:00Z");
        assert_eq!(decode("at", "2026-11-29T10:00:00Z").unwrap(), parsed[1]);
        assert!(decode("at", "yesterday").is_err());
    }
}
