//! `lisens.toml`: the settings an operator would otherwise pass as flags or
//! environment variables. Precedence: flag > environment > file > default.
//! The file is applied by setting the environment variable of every key the
//! environment does not already set, before the command line is parsed, so
//! every setting has one name in the environment and one in the file, and
//! `lisens config check` shows where each effective value came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::Failure;

/// One setting: its key in `lisens.toml`, its environment variable, its
/// default (as `config check` shows it) and whether its value is a secret.
pub struct Setting {
    pub key: &'static str,
    pub env: &'static str,
    pub default: &'static str,
    pub about: &'static str,
}

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

/// Where the settings came from, for `config check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Environment,
    File,
    Default,
}

/// What `apply` did: the file it read (if any) and each key's source.
#[derive(Debug, Default)]
pub struct Loaded {
    pub file: Option<PathBuf>,
    pub sources: BTreeMap<&'static str, Source>,
}

/// The config file to read: `--config FILE` (or `--config=FILE`) from the
/// arguments, else LISENS_CONFIG, else `./lisens.toml` when it exists.
/// A file named explicitly must exist.
pub fn locate(args: &[String]) -> (Option<PathBuf>, bool) {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--config" {
            return (it.next().map(PathBuf::from), true);
        }
        if let Some(v) = a.strip_prefix("--config=") {
            return (Some(PathBuf::from(v)), true);
        }
    }
    if let Ok(v) = std::env::var("LISENS_CONFIG") {
        return (Some(PathBuf::from(v)), true);
    }
    let default = PathBuf::from("lisens.toml");
    (default.exists().then_some(default), false)
}

/// Reads the file and returns the environment values it supplies, checked:
/// unknown keys and wrong types are errors naming the key.
pub fn read(path: &Path) -> Result<BTreeMap<&'static str, String>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::new("CONFIG_UNREADABLE", format!("{}: {e}", path.display())))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| Failure::new("CONFIG_INVALID", format!("{}: {e}", path.display())))?;
    let mut out = BTreeMap::new();
    for (key, value) in &table {
        let Some(setting) = SETTINGS.iter().find(|s| s.key == key) else {
            let known: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
            return Err(Failure::new(
                "CONFIG_INVALID",
                format!(
                    "{}: unknown setting {key:?} (known: {})",
                    path.display(),
                    known.join(", ")
                ),
            ));
        };
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) if *i >= 0 => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) if setting.key == "public_keys" => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| Failure::new("CONFIG_INVALID", format!("{key}: a list of file names")))?
                .join(","),
            other => {
                return Err(Failure::new(
                    "CONFIG_INVALID",
                    format!("{key}: {} is not a valid value", other.type_str()),
                ))
            }
        };
        if text.contains('\0') {
            return Err(Failure::new(
                "CONFIG_INVALID",
                format!("{key}: contains a NUL byte"),
            ));
        }
        out.insert(setting.env, text);
    }
    Ok(out)
}

/// Applies the file before anything else runs (the process has one thread):
/// each key the environment does not set becomes its environment variable.
pub fn apply(args: &[String]) -> Result<Loaded, Failure> {
    let (path, explicit) = locate(args);
    let mut loaded = Loaded::default();
    let values = match &path {
        Some(p) if explicit || p.exists() => read(p)?,
        _ => BTreeMap::new(),
    };
    for s in SETTINGS {
        let source = if std::env::var_os(s.env).is_some() {
            Source::Environment
        } else if let Some(v) = values.get(s.env) {
            // SAFETY: called from main before the runtime or any other thread starts.
            std::env::set_var(s.env, v);
            Source::File
        } else {
            Source::Default
        };
        loaded.sources.insert(s.key, source);
    }
    loaded.file = path.filter(|_| !values.is_empty() || explicit);
    Ok(loaded)
}

pub use lisens_store::mask_url;

/// The effective value of a setting as `config check` prints it (secrets
/// masked), and whether it is valid.
pub fn effective(s: &Setting) -> (String, Result<(), String>) {
    let value = std::env::var(s.env).unwrap_or_else(|_| s.default.to_owned());
    let check = match s.key {
        "database" | "issuer_database" => {
            if value.starts_with("sqlite://")
                || value.starts_with("postgres://")
                || value.starts_with("postgresql://")
            {
                Ok(())
            } else {
                Err("use sqlite://PATH or postgres://USER@HOST:PORT/DB".to_owned())
            }
        }
        "public_keys" => value.split(',').filter(|p| !p.is_empty()).try_for_each(|p| {
            lisens_issuer::read_public_key(Path::new(p))
                .map(|_| ())
                .map_err(|e| e.to_string())
        }),
        "listen" => value
            .parse::<std::net::SocketAddr>()
            .map(|_| ())
            .map_err(|_| "an address like 127.0.0.1:8080".to_owned()),
        "log" => tracing_subscriber::EnvFilter::try_new(&value)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "log_format" => match value.as_str() {
            "text" | "json" => Ok(()),
            _ => Err("text or json".to_owned()),
        },
        "issuer_poll_secs"
        | "metering_retention_days"
        | "max_in_flight"
        | "request_timeout_secs"
        | "max_connections"
        | "header_timeout_secs" => match value.parse::<u64>() {
            Ok(n) if n > 0 => Ok(()),
            _ => Err("a whole number above 0".to_owned()),
        },
        "clock_offset_secs" => value
            .parse::<i64>()
            .map(|_| ())
            .map_err(|_| "a whole number of seconds".to_owned()),
        "trusted_proxies" => lisens_server::client_addr::TrustedProxies::parse(&value).map(|_| ()),
        "time_zone" => lisens_core::metering::Zone::parse(&value)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "secure_cookies" => match value.as_str() {
            "1" | "0" | "true" | "false" => Ok(()),
            _ => Err("true or false".to_owned()),
        },
        "issuer_key" if !value.is_empty() => {
            if Path::new(&value).is_file() {
                Ok(())
            } else {
                Err(format!("{value}: no such file"))
            }
        }
        _ => Ok(()),
    };
    let shown = match s.key {
        "database" | "issuer_database" => mask_url(&value),
        _ => value,
    };
    (shown, check)
}
