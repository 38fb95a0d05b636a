//! The installation's one configuration: every setting an operator may give
//! in `lisens.toml`, as an environment variable or as a flag, read once at
//! the start of the command and passed down as typed values (the server's
//! part as `lisens_server::Settings`). Layers, lowest first: the defaults
//! below, the file, the environment, the flags ([figment] merges the first
//! three; `lib.rs` lays the few flags over them). An invalid value is an
//! error naming the setting and where it came from, never a silent default;
//! `lisens config check` prints every effective value and its source.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::value::Value;
use figment::Figment;

use crate::failure::Failure;
use lisens_core::codes;

/// One setting: its key in `lisens.toml`, its environment variable, its
/// default (as `config check` shows it) and what it is for.
pub struct Setting {
    pub key: &'static str,
    pub env: &'static str,
    pub default: &'static str,
    pub about: &'static str,
}

/// Every setting, each written once.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "database",
        env: "LISENS_DATABASE_URL",
        default: "sqlite://lisens.db",
        about: "installation database URL",
    },
    Setting {
        key: "public_keys",
        env: "LISENS_PUBLIC_KEY",
        default: "",
        about: "trusted public key files (a list)",
    },
    Setting {
        key: "listen",
        env: "LISENS_LISTEN",
        default: "127.0.0.1:8080",
        about: "address serve listens on",
    },
    Setting {
        key: "log",
        env: "LISENS_LOG",
        default: "info,sqlx=warn,tower_http=warn",
        about: "log filter",
    },
    Setting {
        key: "log_format",
        env: "LISENS_LOG_FORMAT",
        default: "text",
        about: "text or json",
    },
    Setting {
        key: "issuer_poll_secs",
        env: "LISENS_ISSUER_POLL_SECS",
        default: "60",
        about: "how often serve looks whether the issuer is due",
    },
    Setting {
        key: "issuer_check_interval_secs",
        env: "LISENS_ISSUER_CHECK_INTERVAL_SECS",
        default: "900",
        about: "how often serve asks a registered installation's issuer for news (a conditional request: usually an empty 304)",
    },
    Setting {
        key: "time_zone",
        env: "LISENS_TIME_ZONE",
        default: "UTC",
        about: "time zone of metering months",
    },
    Setting {
        key: "metering_retention_days",
        env: "LISENS_METERING_RETENTION_DAYS",
        default: "400",
        about: "days raw metering events are kept",
    },
    Setting {
        key: "max_in_flight",
        env: "LISENS_MAX_IN_FLIGHT",
        default: "512",
        about: "requests served at once; more get 503 OVERLOADED",
    },
    Setting {
        key: "request_timeout_secs",
        env: "LISENS_REQUEST_TIMEOUT_SECS",
        default: "30",
        about: "longest a request may take",
    },
    Setting {
        key: "max_connections",
        env: "LISENS_MAX_CONNECTIONS",
        default: "1024",
        about: "open connections at most; keep it under ulimit -n",
    },
    Setting {
        key: "header_timeout_secs",
        env: "LISENS_HEADER_TIMEOUT_SECS",
        default: "20",
        about: "time to send request headers, and idle keep-alive time",
    },
    Setting {
        key: "trusted_proxies",
        env: "LISENS_TRUSTED_PROXIES",
        default: "",
        about: "proxies whose X-Forwarded-For names the client",
    },
    Setting {
        key: "public_url",
        env: "LISENS_PUBLIC_URL",
        default: "",
        about: "the installation's address as clients reach it (SCIM's meta.location); empty: taken from each request's Host",
    },
    Setting {
        key: "secure_cookies",
        env: "LISENS_SECURE_COOKIES",
        default: "false",
        about: "mark session cookies Secure (behind TLS)",
    },
    Setting {
        key: "issuer_database",
        env: "LISENS_ISSUER_DATABASE_URL",
        default: "sqlite://issuer.db",
        about: "issuer database URL",
    },
    Setting {
        key: "clock_offset_secs",
        env: "LISENS_CLOCK_OFFSET_SECS",
        default: "0",
        about: "moves this process's clock (for tests; no more than moving the system clock)",
    },
    Setting {
        key: "issuer_key",
        env: "LISENS_ISSUER_KEY",
        default: "",
        about: "issuer signing key file",
    },
];

/// Where a setting's effective value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Environment,
    File,
    Default,
}

/// The log's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Every setting, parsed and checked.
#[derive(Clone)]
pub struct Config {
    pub database: String,
    pub public_keys: Vec<PathBuf>,
    pub listen: String,
    pub log: String,
    pub log_format: LogFormat,
    pub issuer_poll: Duration,
    /// How often a connected installation asks its issuer.
    pub issuer_check_interval: Duration,
    pub issuer_database: String,
    pub clock_offset_secs: i64,
    pub issuer_key: Option<PathBuf>,
    /// What the server takes.
    pub server: lisens_server::Settings,
}

/// The configuration as read: the values, each one's source and shown
/// text, the file (if any) and every invalid value.
pub struct Loaded {
    pub config: Config,
    pub file: Option<PathBuf>,
    pub sources: BTreeMap<&'static str, Source>,
    /// Each setting's effective value as `config check` shows it (database
    /// passwords masked).
    pub shown: BTreeMap<&'static str, String>,
    /// `(key, why)` for each invalid value.
    pub problems: Vec<(&'static str, String)>,
}

impl Loaded {
    /// The configuration, or `CONFIG_INVALID` naming every invalid setting.
    pub fn into_config(self) -> Result<Config, Failure> {
        if self.problems.is_empty() {
            return Ok(self.config);
        }
        let named: Vec<String> = self
            .problems
            .iter()
            .map(|(key, why)| {
                let from = match self.sources.get(key) {
                    Some(Source::Environment) => {
                        setting(key).map_or(String::new(), |s| format!(" ({})", s.env))
                    }
                    Some(Source::File) => " (settings file)".to_owned(),
                    _ => String::new(),
                };
                format!("{key}{from}: {why}")
            })
            .collect();
        Err(Failure::new(codes::CONFIG_INVALID, named.join("; ")))
    }
}

fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// The settings file to read: `--config FILE`, else LISENS_CONFIG, else
/// `./lisens.toml` when it exists. A file named explicitly must exist.
fn locate(flag: Option<&Path>) -> Option<(PathBuf, bool)> {
    if let Some(f) = flag {
        return Some((f.to_owned(), true));
    }
    if let Some(v) = std::env::var_os("LISENS_CONFIG") {
        return Some((PathBuf::from(v), true));
    }
    let default = PathBuf::from("lisens.toml");
    default.exists().then_some((default, false))
}

/// Reads the file (`CONFIG_UNREADABLE`, or `CONFIG_INVALID` for bad syntax
/// and unknown keys), the environment, and the defaults; checks each value.
pub fn load(config_flag: Option<&Path>) -> Result<Loaded, Failure> {
    let mut figment = Figment::new();
    let mut in_file: Vec<String> = Vec::new();
    let file = locate(config_flag);
    if let Some((path, _)) = &file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::new(codes::CONFIG_UNREADABLE, format!("{}: {e}", path.display())))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e| Failure::new(codes::CONFIG_INVALID, format!("{}: {e}", path.display())))?;
        for key in table.keys() {
            if setting(key).is_none() {
                let known: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
                return Err(Failure::new(
                    codes::CONFIG_INVALID,
                    format!(
                        "{}: unknown setting {key:?} (known: {})",
                        path.display(),
                        known.join(", ")
                    ),
                ));
            }
            in_file.push(key.clone());
        }
        figment = figment.merge(Toml::string(&text));
    }
    // Each setting's own variable, renamed to its key; other LISENS_
    // variables (LISENS_CONFIG, the tests' own) are not settings.
    figment = figment
        .merge(Env::raw().filter_map(|name| SETTINGS.iter().find(|s| name == s.env).map(|s| s.key.into())));

    let mut sources = BTreeMap::new();
    let mut texts: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut problems = Vec::new();
    for s in SETTINGS {
        let source = if std::env::var_os(s.env).is_some() {
            Source::Environment
        } else if in_file.iter().any(|k| k == s.key) {
            Source::File
        } else {
            Source::Default
        };
        sources.insert(s.key, source);
        let text = match figment.find_value(s.key) {
            Ok(v) => match text_of(s.key, &v) {
                Ok(t) => t,
                Err(why) => {
                    problems.push((s.key, why));
                    s.default.to_owned()
                }
            },
            Err(_) => s.default.to_owned(),
        };
        texts.insert(s.key, text);
    }

    let mut check = |key: &'static str, r: Result<(), String>| {
        if let Err(why) = r {
            if !problems.iter().any(|(k, _)| *k == key) {
                problems.push((key, why));
            }
        }
    };
    let text = |key: &str| texts.get(key).cloned().unwrap_or_default();
    let whole = |key: &'static str, check: &mut dyn FnMut(&'static str, Result<(), String>)| -> u64 {
        let default: u64 = setting(key).and_then(|s| s.default.parse().ok()).unwrap_or(1);
        match text(key).parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => {
                check(key, Err("a whole number above 0".to_owned()));
                default
            }
        }
    };
    let issuer_poll = Duration::from_secs(whole("issuer_poll_secs", &mut check));
    let issuer_check_interval = Duration::from_secs(whole("issuer_check_interval_secs", &mut check));
    let retention = whole("metering_retention_days", &mut check);
    let max_in_flight = whole("max_in_flight", &mut check);
    let request_timeout = Duration::from_secs(whole("request_timeout_secs", &mut check));
    let max_connections = whole("max_connections", &mut check);
    let header_timeout = Duration::from_secs(whole("header_timeout_secs", &mut check));

    // Database URLs are the store's to judge (DATABASE_URL_INVALID when
    // used); `config check` asks it too (`check_files`).
    let database = text("database");
    let issuer_database = text("issuer_database");
    let listen = text("listen");
    check(
        "listen",
        listen
            .parse::<std::net::SocketAddr>()
            .map(|_| ())
            .map_err(|_| "an address like 127.0.0.1:8080".to_owned()),
    );
    let log = text("log");
    check(
        "log",
        tracing_subscriber::EnvFilter::try_new(&log)
            .map(|_| ())
            .map_err(|e| e.to_string()),
    );
    let log_format = match text("log_format").as_str() {
        "json" => LogFormat::Json,
        "text" => LogFormat::Text,
        _ => {
            check("log_format", Err("text or json".to_owned()));
            LogFormat::Text
        }
    };
    let zone = match lisens_core::metering::Zone::parse(&text("time_zone")) {
        Ok(z) => z,
        Err(e) => {
            check("time_zone", Err(e.to_string()));
            lisens_core::metering::Zone::utc()
        }
    };
    let proxies =
        lisens_server::client_addr::TrustedProxies::parse(&text("trusted_proxies")).unwrap_or_else(|e| {
            check("trusted_proxies", Err(e));
            Default::default()
        });
    let secure_cookies = match text("secure_cookies").as_str() {
        "true" | "1" => true,
        "false" | "0" => false,
        _ => {
            check("secure_cookies", Err("true or false".to_owned()));
            false
        }
    };
    let public_url = Some(text("public_url")).filter(|u| !u.is_empty()).and_then(|u| {
        match lisens_server::public_url(&u) {
            Ok(u) => Some(u),
            Err(e) => {
                check("public_url", Err(e));
                None
            }
        }
    });
    let clock_offset_secs = text("clock_offset_secs").parse::<i64>().unwrap_or_else(|_| {
        check("clock_offset_secs", Err("a whole number of seconds".to_owned()));
        0
    });
    let public_keys: Vec<PathBuf> = text("public_keys")
        .split(',')
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect();
    let issuer_key = Some(text("issuer_key"))
        .filter(|k| !k.is_empty())
        .map(PathBuf::from);

    let config = Config {
        database,
        public_keys,
        listen,
        log,
        log_format,
        issuer_poll,
        issuer_check_interval,
        issuer_database,
        clock_offset_secs,
        issuer_key,
        server: lisens_server::Settings {
            zone,
            secure_cookies,
            public_url,
            limits: lisens_server::limits::Limits::new(
                usize::try_from(max_in_flight).unwrap_or(usize::MAX),
                request_timeout,
            )
            .with_connections(
                usize::try_from(max_connections).unwrap_or(usize::MAX),
                header_timeout,
            ),
            proxies,
            metering_retention_days: u32::try_from(retention).unwrap_or(u32::MAX),
        },
    };
    let shown = texts
        .into_iter()
        .map(|(k, v)| match k {
            "database" | "issuer_database" => (k, mask_url(&v)),
            _ => (k, v),
        })
        .collect();
    Ok(Loaded {
        config,
        file: file.map(|(p, _)| p),
        sources,
        shown,
        problems,
    })
}

/// A value from the file or the environment as text: strings as they are,
/// whole numbers and booleans written out, a list of strings (public keys)
/// joined by commas; anything else is refused by name.
fn text_of(key: &str, v: &Value) -> Result<String, String> {
    let text = match v {
        Value::String(_, s) => s.clone(),
        Value::Char(_, c) => c.to_string(),
        Value::Bool(_, b) => b.to_string(),
        Value::Num(_, n) => match (n.to_u128(), n.to_i128(), n.to_f64()) {
            (Some(u), _, _) => u.to_string(),
            (None, Some(i), _) => i.to_string(),
            (None, None, Some(f)) => return Err(format!("{f} is not a whole number")),
            _ => return Err("not a number".to_owned()),
        },
        Value::Empty(..) => String::new(),
        Value::Array(_, items) if key == "public_keys" => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| "a list of file names".to_owned())?
            .join(","),
        Value::Array(..) | Value::Dict(..) => {
            return Err("a list or table is not a valid value here".to_owned())
        }
    };
    if text.contains('\0') {
        return Err("contains a NUL byte".to_owned());
    }
    Ok(text)
}

pub use lisens_store::mask_url;

/// What `config check` adds to the values' own checks: the database URLs
/// are ones the store opens, and the files named are there and readable.
pub fn check_files(config: &Config) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    for (key, url) in [
        ("database", &config.database),
        ("issuer_database", &config.issuer_database),
    ] {
        if lisens_store::backend_of(url).is_err() {
            problems.push((
                key,
                "use sqlite://PATH or postgres://USER@HOST:PORT/DB".to_owned(),
            ));
        }
    }
    for p in &config.public_keys {
        if let Err(e) = lisens_issuer::read_public_key(p) {
            problems.push(("public_keys", e.to_string()));
        }
    }
    if let Some(k) = &config.issuer_key {
        if !k.is_file() {
            problems.push(("issuer_key", format!("{}: no such file", k.display())));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_has_one_environment_variable_and_a_valid_default() {
        let mut envs: Vec<&str> = SETTINGS.iter().map(|s| s.env).collect();
        envs.sort_unstable();
        envs.dedup();
        assert_eq!(envs.len(), SETTINGS.len());
        for s in SETTINGS {
            assert!(
                s.env.starts_with("LISENS_") && s.key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            );
        }
    }
}
