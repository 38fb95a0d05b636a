//! The UI's four languages (English, Swedish, Danish, Norwegian bokmål) from
//! Fluent files in `locales/`, chosen from the user's setting, else the
//! browser's Accept-Language, else English.

use fluent_templates::{LanguageIdentifier, Loader};

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en-US",
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// The languages offered: (code, Fluent locale, name in that language).
pub const LANGUAGES: [(&str, &str, &str); 4] = [
    ("en", "en-US", "English"),
    ("sv", "sv", "Svenska"),
    ("da", "da", "Dansk"),
    ("nb", "nb", "Norsk bokmål"),
];

/// Translations for one request.
#[derive(Clone)]
pub struct Tr {
    lang: LanguageIdentifier,
    pub code: &'static str,
}

impl Tr {
    pub fn new(code: &str) -> Self {
        let (code, locale, _) = LANGUAGES
            .iter()
            .find(|(c, _, _)| *c == code)
            .copied()
            .unwrap_or(LANGUAGES[0]);
        Self {
            lang: locale.parse().expect("the locales are valid identifiers"),
            code,
        }
    }

    /// The text for a key.
    pub fn t(&self, key: &str) -> String {
        LOCALES.lookup(&self.lang, key)
    }

    /// The sentence explaining an error code (`error-CODE`), if there is one.
    pub fn error(&self, code: &str) -> Option<String> {
        LOCALES.try_lookup(&self.lang, &format!("error-{code}"))
    }

    /// The name of a system message's key in this language (`key-KEY`; a
    /// job's `job:NAME` is "Job: NAME"); a key without a name (an
    /// administrator's own) is shown as it is.
    pub fn event_name(&self, key: &str) -> String {
        if let Some(job) = key.strip_prefix("job:") {
            return format!("{}: {job}", self.t("key-job"));
        }
        LOCALES
            .try_lookup(&self.lang, &format!("key-{key}"))
            .unwrap_or_else(|| key.to_owned())
    }

    /// What a system message says, in this language: its key's sentence
    /// (`msg-KEY`) with the arguments the system stored (a metered service
    /// by the product's name for it, "system" as the system's word), else
    /// the stored text (an administrator's own message, or a key this
    /// version has no sentence for).
    pub fn event_message(&self, e: &lisens_store::SystemEvent, product: &lisens_core::Product) -> String {
        let Some(args) = e.arguments() else {
            return e.message.clone();
        };
        let args: std::collections::HashMap<std::borrow::Cow<'static, str>, _> = args
            .into_iter()
            .map(|(k, v)| {
                let v = match k.as_str() {
                    "service" => product
                        .service(&v)
                        .map_or(v.clone(), |d| product.service_name(d, self.code).to_owned()),
                    "by" => self.who(&v),
                    _ => v,
                };
                (
                    std::borrow::Cow::Owned(k),
                    fluent_templates::fluent_bundle::FluentValue::from(v),
                )
            })
            .collect();
        LOCALES
            .try_lookup_with_args(&self.lang, &format!("msg-{}", e.key), &args)
            .unwrap_or_else(|| e.message.clone())
    }

    /// Who did something: a person's login, or the system in this language.
    pub fn who(&self, by: &str) -> String {
        if by == "system" {
            self.t("by-system")
        } else {
            by.to_owned()
        }
    }

    /// The sentence for a code that names something (`MISSING_LICENSE:web`):
    /// `error-MISSING_LICENSE` with `{ $name }` set to what it names. A code
    /// without a name is [`Tr::error`].
    pub fn error_naming(&self, code: &str) -> Option<String> {
        let Some((base, name)) = code.split_once(':') else {
            return self.error(code);
        };
        let args = std::collections::HashMap::from([(
            std::borrow::Cow::Borrowed("name"),
            fluent_templates::fluent_bundle::FluentValue::from(name.to_owned()),
        )]);
        LOCALES.try_lookup_with_args(&self.lang, &format!("error-{base}"), &args)
    }

    /// A moment as the reader reads it: the local date and time in the
    /// installation's time zone, in this language's format (CLDR data,
    /// ICU4X): "30 nov. 2026 06:49:18" in Swedish, "Nov 30, 2026, 6:49:18 AM"
    /// in English.
    pub fn when(&self, t: time::OffsetDateTime, zone: &lisens_core::metering::Zone) -> String {
        let local = zone.local(t);
        let date = icu_datetime::input::Date::try_new_iso(local.year(), u8::from(local.month()), local.day());
        let time = icu_datetime::input::Time::try_new(local.hour(), local.minute(), local.second(), 0);
        let (Ok(date), Ok(time)) = (date, time) else {
            return local.to_string();
        };
        let dt = icu_datetime::input::DateTime { date, time };
        type Formatter = icu_datetime::DateTimeFormatter<icu_datetime::fieldsets::YMDT>;
        thread_local! {
            static FORMATTERS: Vec<(&'static str, Formatter)> = per_language(|locale| {
                let minutes = icu_datetime::fieldsets::YMDT::medium()
                    .with_time_precision(icu_datetime::options::TimePrecision::Minute);
                Formatter::try_new(locale.into(), minutes).ok()
            });
        }
        self.with(&FORMATTERS, |f| f.format(&dt).to_string())
            .unwrap_or_else(|| local.to_string())
    }

    /// A calendar date (`YYYY-MM-DD`, as licenses carry them) in this
    /// language's format: "31 dec. 2027" in Swedish, "Dec 31, 2027" in
    /// English; as given when it does not parse.
    pub fn date(&self, ymd: impl AsRef<str>) -> String {
        let ymd = ymd.as_ref();
        let parsed = time::Date::parse(ymd, time::macros::format_description!("[year]-[month]-[day]"))
            .ok()
            .and_then(|d| {
                icu_datetime::input::Date::try_new_iso(d.year(), u8::from(d.month()), d.day()).ok()
            });
        let Some(date) = parsed else {
            return ymd.to_owned();
        };
        type Formatter = icu_datetime::DateTimeFormatter<icu_datetime::fieldsets::YMD>;
        thread_local! {
            static FORMATTERS: Vec<(&'static str, Formatter)> =
                per_language(|locale| Formatter::try_new(locale.into(), icu_datetime::fieldsets::YMD::medium()).ok());
        }
        self.with(&FORMATTERS, |f| f.format(&date).to_string())
            .unwrap_or_else(|| ymd.to_owned())
    }

    /// A stored RFC 3339 time as [`Tr::when`] shows it (as stored when it
    /// does not parse).
    pub fn when_stored(&self, stored: &str, zone: &lisens_core::metering::Zone) -> String {
        time::OffsetDateTime::parse(stored, &time::format_description::well_known::Rfc3339)
            .map_or_else(|_| stored.to_owned(), |t| self.when(t, zone))
    }

    /// Runs `f` with this language's formatter from a per-thread cache
    /// that [`per_language`] filled.
    fn with<T: 'static, R>(
        &self,
        cache: &'static std::thread::LocalKey<Vec<(&'static str, T)>>,
        f: impl FnOnce(&T) -> R,
    ) -> Option<R> {
        cache.with(|all| all.iter().find(|(c, _)| *c == self.code).map(|(_, t)| f(t)))
    }

    /// A negative change as words ("2 fewer"), so a minus sign needs no
    /// explaining.
    pub fn fewer(&self, change: &i64) -> String {
        let args = std::collections::HashMap::from([(
            std::borrow::Cow::Borrowed("count"),
            fluent_templates::fluent_bundle::FluentValue::from(self.num(&change.saturating_abs())),
        )]);
        LOCALES.lookup_with_args(&self.lang, "fewer", &args)
    }

    /// A size in bytes as a reader reads it: GB (1024³ bytes) with at most
    /// one decimal, below 1 GB in whole MB, in this language's number format.
    pub fn bytes(&self, n: u64) -> String {
        const MB: u64 = 1024 * 1024;
        const GB: u64 = 1024 * MB;
        if n < GB {
            return format!(
                "{} MB",
                self.num(&i64::try_from(n.div_ceil(MB)).unwrap_or(i64::MAX))
            );
        }
        let tenths =
            i64::try_from((u128::from(n) * 10 + u128::from(GB) / 2) / u128::from(GB)).unwrap_or(i64::MAX);
        let (whole, tenth) = (tenths / 10, tenths % 10);
        if tenth == 0 {
            format!("{} GB", self.num(&whole))
        } else {
            format!("{} GB", self.decimal(&format!("{whole}.{tenth}")))
        }
    }

    /// A count in this language's number format (CLDR data, ICU4X):
    /// "1,234,567" in English, "1.234.567" in Danish, "1 234 567" in Swedish
    /// and Norwegian.
    pub fn num(&self, n: &i64) -> String {
        self.decimal(&n.to_string())
    }

    /// An amount of money ("12.50", as the report gives it) in this
    /// language's number format, with its currency code: "12,50 SEK".
    pub fn money(&self, amount: &str, currency: &str) -> String {
        format!("{} {currency}", self.decimal(amount))
            .trim_end()
            .to_owned()
    }

    /// A decimal number written with `.` (like "5.5"), in this language's
    /// number format; as written when it does not parse.
    fn decimal(&self, plain: &str) -> String {
        let Ok(value) = fixed_decimal::Decimal::try_from_str(plain) else {
            return plain.to_owned();
        };
        thread_local! {
            static FORMATTERS: Vec<(&'static str, icu_decimal::DecimalFormatter)> =
                per_language(|locale| icu_decimal::DecimalFormatter::try_new(locale.into(), Default::default()).ok());
        }
        self.with(&FORMATTERS, |f| f.format(&value).to_string())
            .unwrap_or_else(|| plain.to_owned())
    }
}

/// An ICU4X formatter for each of the four languages, made by `make` from
/// its locale: the contents of a per-thread cache (ICU4X's data is not
/// shared between threads), read with [`Tr::with`].
fn per_language<T>(make: impl Fn(icu_locale_core::Locale) -> Option<T>) -> Vec<(&'static str, T)> {
    LANGUAGES
        .iter()
        .filter_map(|(code, _, _)| Some((*code, make(icu_locale_core::Locale::try_from_str(code).ok()?)?)))
        .collect()
}

/// Picks the language: the user's setting, else the first supported one in
/// Accept-Language (`no`/`nn` count as Norwegian), else English.
pub fn choose(setting: Option<&str>, accept_language: Option<&str>) -> Tr {
    if let Some(code) = setting.filter(|c| LANGUAGES.iter().any(|(l, _, _)| l == c)) {
        return Tr::new(code);
    }
    let mut ranked: Vec<(f32, &str)> = accept_language
        .unwrap_or("")
        .split(',')
        .filter_map(|part| {
            let mut bits = part.trim().split(';');
            let tag = bits.next()?.trim();
            let q = bits
                .find_map(|b| b.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((q, tag))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    for (_, tag) in ranked {
        let primary = tag.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        let code = match primary.as_str() {
            "no" | "nn" | "nb" => "nb",
            other => other,
        };
        if LANGUAGES.iter().any(|(l, _, _)| *l == code) {
            return Tr::new(code);
        }
    }
    Tr::new("en")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(locale: &str) -> Vec<String> {
        let path = format!("{}/locales/{locale}/main.ftl", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .lines()
            .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim().to_owned()))
            .filter(|k| !k.starts_with('#') && !k.is_empty())
            .collect()
    }

    #[test]
    fn every_key_exists_in_every_language() {
        let english = keys("en-US");
        assert!(english.len() > 50);
        for (_, locale, _) in &LANGUAGES[1..] {
            let other = keys(locale);
            let missing: Vec<_> = english.iter().filter(|k| !other.contains(k)).collect();
            let extra: Vec<_> = other.iter().filter(|k| !english.contains(k)).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{locale}: missing {missing:?}, extra {extra:?}"
            );
        }
    }

    #[test]
    fn sizes_read_in_gb_in_the_readers_number_format() {
        let (sv, en) = (Tr::new("sv"), Tr::new("en"));
        assert_eq!(sv.bytes(17_179_869_184), "16 GB");
        assert_eq!(sv.bytes(5_905_580_032), "5,5 GB");
        assert_eq!(en.bytes(5_905_580_032), "5.5 GB");
        assert_eq!(sv.bytes(1_099_511_627_776), "1\u{a0}024 GB");
        assert_eq!(en.bytes(300 * 1024 * 1024), "300 MB");
        assert_eq!(en.bytes(0), "0 MB");
    }

    #[test]
    fn the_seeds_terms_are_used() {
        assert_eq!(Tr::new("sv").t("buy-new-licenses"), "Köp nya licenser");
        assert_eq!(
            Tr::new("da").t("remove-excess-licenses"),
            "Fjern overskydende licenser"
        );
        assert_eq!(
            Tr::new("nb").t("load-license-from-file"),
            "Last inn lisens fra fil"
        );
        assert_eq!(Tr::new("en").t("activate-new-license"), "Activate new license");
    }

    #[test]
    fn the_language_comes_from_the_setting_then_the_browser() {
        assert_eq!(choose(Some("da"), Some("sv")).code, "da");
        assert_eq!(choose(None, Some("fr-FR, sv-SE;q=0.8, en;q=0.5")).code, "sv");
        assert_eq!(choose(None, Some("nn-NO")).code, "nb");
        assert_eq!(choose(None, Some("de")).code, "en");
        assert_eq!(choose(Some("xx"), None).code, "en");
    }

    #[test]
    fn times_are_local_and_in_the_readers_format() {
        let t = time::macros::datetime!(2026-11-30 05:49:18 UTC);
        let oslo = lisens_core::metering::Zone::parse("Europe/Oslo").unwrap();
        // Oslo is UTC+1 in November; each language's CLDR pattern.
        for (code, shown) in [
            ("en", "Nov 30, 2026, 6:49\u{202f}AM"),
            ("sv", "30 nov. 2026 06:49"),
            ("da", "30. nov. 2026, 06.49"),
            ("nb", "30. nov. 2026, 06:49"),
        ] {
            assert_eq!(Tr::new(code).when(t, &oslo), shown, "{code}");
        }
        assert_eq!(
            Tr::new("sv").when_stored("2026-11-30T05:49:18Z", &lisens_core::metering::Zone::utc()),
            "30 nov. 2026 05:49"
        );
        assert_eq!(Tr::new("sv").when_stored("not a time", &oslo), "not a time");
        for (code, shown) in [
            ("en", "Dec 31, 2027"),
            ("sv", "31 dec. 2027"),
            ("da", "31. dec. 2027"),
            ("nb", "31. des. 2027"),
        ] {
            assert_eq!(Tr::new(code).date("2027-12-31"), shown, "{code}");
        }
        assert_eq!(Tr::new("sv").date("someday"), "someday");
    }

    #[test]
    fn money_is_in_the_readers_number_format() {
        assert_eq!(Tr::new("sv").money("1234.50", "SEK"), "1\u{a0}234,50 SEK");
        assert_eq!(Tr::new("en").money("0.00", "EUR"), "0.00 EUR");
        assert_eq!(Tr::new("da").money("2.50", "DKK"), "2,50 DKK");
    }

    #[test]
    fn numbers_use_the_language_separator() {
        assert_eq!(Tr::new("en").num(&1234567), "1,234,567");
        assert_eq!(Tr::new("da").num(&-1234), "-1.234");
        assert_eq!(Tr::new("sv").num(&999), "999");
    }
}
