//! The installation asking its issuer for its license: on demand ("check
//! now", `lisens license check-now`) and in the background at nextCheckDate.
//! Timeouts, three attempts with backoff, and no harm when the issuer is down:
//! the current license keeps working and the failed check is recorded.

use std::sync::Arc;
use std::time::Duration;

use lisens_core::codes;
use lisens_core::{PublicKey, VerifiedLicense};
use lisens_store::{Actor, Received, Store, StoreError};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("no issuer is configured: register the installation first")]
    NotConfigured,
    #[error("the issuer at {0} could not be reached: {1}")]
    Unreachable(String, String),
    #[error("the issuer refused: {code}: {detail}")]
    Refused { code: String, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CheckError {
    pub fn code(&self) -> String {
        match self {
            CheckError::NotConfigured => codes::ISSUER_NOT_CONFIGURED.into(),
            CheckError::Unreachable(..) => codes::ISSUER_UNREACHABLE.into(),
            CheckError::Refused { code, .. } => code.clone(),
            CheckError::Store(e) => e.code().into(),
        }
    }
}

impl From<CheckError> for crate::error::ApiError {
    fn from(e: CheckError) -> Self {
        let status = match &e {
            CheckError::Store(_) => {
                let CheckError::Store(e) = e else { unreachable!() };
                return e.into();
            }
            CheckError::NotConfigured => axum::http::StatusCode::BAD_REQUEST,
            CheckError::Unreachable(..) => axum::http::StatusCode::BAD_GATEWAY,
            CheckError::Refused { .. } => axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        };
        Self::new(status, &e.code(), e.to_string())
    }
}

#[derive(Serialize)]
struct FetchRequest<'a> {
    serial: &'a str,
    secret: &'a str,
    license_version: i64,
    company_name: Option<&'a str>,
}

#[derive(Deserialize)]
struct FetchAnswer {
    status: String,
    message: Option<String>,
    url: Option<String>,
    license: Option<String>,
    /// The issuer's signed statement (current version, issuer time).
    #[serde(default)]
    statement: Option<String>,
}

#[derive(Deserialize)]
struct RegisterAnswer {
    secret: String,
    license: String,
    #[serde(default)]
    statement: Option<String>,
}

#[derive(Deserialize)]
struct Problem {
    code: Option<String>,
    detail: Option<String>,
}

/// What a check found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckOutcome {
    /// The issuer's status code (`Ok`, `NewLicenseAvailable`, `Message`, ...).
    pub status: String,
    pub message: Option<String>,
    pub url: Option<String>,
    /// What happened to a license the issuer sent, if it sent one.
    pub received: Option<Received>,
    /// The answer's entity tag: asked with it, the issuer answers `304` for
    /// as long as it has nothing new.
    pub etag: Option<String>,
}

/// The status of a `304 Not Modified` answer: nothing new since the answer
/// whose entity tag was sent.
pub const NOT_MODIFIED: &str = "NotModified";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("a TLS backend is compiled in")
}

/// POSTs JSON with up to three attempts (0.5 s, 1 s backoff) on network errors
/// and 5xx answers. A 4xx answer is final.
async fn post<T: Serialize>(
    url: &str,
    body: &T,
    if_none_match: Option<&str>,
) -> Result<reqwest::Response, CheckError> {
    let http = client();
    let mut last = String::new();
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt - 1))).await;
        }
        let mut request = http.post(url).json(body);
        if let Some(tag) = if_none_match {
            request = request.header(reqwest::header::IF_NONE_MATCH, tag);
        }
        match request.send().await {
            Ok(r) if r.status().is_server_error() => last = format!("HTTP {}", r.status()),
            Ok(r) if r.status().is_client_error() => {
                let p: Problem = r.json().await.unwrap_or(Problem {
                    code: None,
                    detail: None,
                });
                return Err(CheckError::Refused {
                    code: p.code.unwrap_or_else(|| codes::ISSUER_REFUSED.into()),
                    detail: p.detail.unwrap_or_default(),
                });
            }
            Ok(r) => return Ok(r),
            Err(e) => last = e.to_string(),
        }
    }
    Err(CheckError::Unreachable(url.to_owned(), last))
}

const ISSUER: Actor<'static> = Actor {
    name: "issuer",
    automatic: true,
};

/// Asks the issuer once (with retries) and takes in what it sends.
pub async fn check_now(store: &Store) -> Result<CheckOutcome, CheckError> {
    check_now_if(store, None).await
}

/// As [`check_now`]; with `etag` (of the last answer) the issuer answers an
/// empty 304 when it has nothing new.
pub async fn check_now_if(store: &Store, etag: Option<&str>) -> Result<CheckOutcome, CheckError> {
    let result = check(store, etag).await;
    let (ok, status, message) = match &result {
        Ok(o) => (true, o.status.clone(), o.message.clone().unwrap_or_default()),
        Err(CheckError::NotConfigured) => return result,
        Err(e) => (false, e.code(), e.to_string()),
    };
    crate::metrics::global().issuer_poll(if ok { "ok" } else { "failed" });
    if let Ok(CheckOutcome {
        received: Some(received),
        ..
    }) = &result
    {
        let what = match received {
            Received::Activated { .. } => "activated",
            Received::Pending { .. } => "pending",
            _ => "received",
        };
        store
            .record_audit(&lisens_store::audit::NewAudit {
                actor: "issuer".into(),
                address: "local".into(),
                action: "issuer license".into(),
                target: String::new(),
                detail: format!("a license from the issuer was {what}"),
            })
            .await?;
    }
    store.record_issuer_check(ok, &status, &message).await?;
    if ok {
        store.end_system_events("issuer-unreachable").await?;
    } else if !store
        .events(
            &lisens_store::EventFilter {
                status: Some(lisens_core::events::EventStatus::Active),
                ..Default::default()
            },
            0,
            1000,
        )
        .await?
        .iter()
        .any(|e| e.key == "issuer-unreachable")
    {
        // One active message while the issuer stays away; it ends when it answers.
        store
            .raise_event_by(
                "issuer-unreachable",
                "the license check with the issuer failed",
                Some(&[]),
                &message,
                true,
                "system",
            )
            .await?;
    }
    result
}

async fn check(store: &Store, etag: Option<&str>) -> Result<CheckOutcome, CheckError> {
    let link = store.issuer_link().await?.ok_or(CheckError::NotConfigured)?;
    let status = store.license_status().await?;
    let owner = status.owners.iter().find(|o| o.serial == link.serial_number);
    let req = FetchRequest {
        serial: &link.serial_number,
        secret: &link.secret,
        license_version: owner.map_or(0, |o| o.license_version),
        company_name: owner.map(|o| o.company_name.as_str()),
    };
    let response = post(&format!("{}/api/v1/license", link.issuer_url), &req, etag).await?;
    let etag = response
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if response.status() == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(CheckOutcome {
            status: NOT_MODIFIED.into(),
            message: None,
            url: None,
            received: None,
            etag,
        });
    }
    let answer: FetchAnswer = response
        .json()
        .await
        .map_err(|e| CheckError::Unreachable(link.issuer_url.clone(), format!("bad answer: {e}")))?;
    let received = match (&answer.license, owner) {
        (Some(document), Some(owner)) => {
            let keys = store.owner_keys(&owner.owner_name).await?;
            Some(take(store, document, &keys, ISSUER).await?)
        }
        // The serial's license is not loaded (yet): take it with any key
        // this installation trusts.
        (Some(document), None) => Some(take(store, document, &store.receiving_keys().await?, ISSUER).await?),
        (None, _) => None,
    };
    keep_statement(store, answer.statement.as_deref()).await;
    Ok(CheckOutcome {
        status: answer.status,
        message: answer.message,
        url: answer.url,
        received,
        etag,
    })
}

async fn take(
    store: &Store,
    document: &str,
    keys: &[PublicKey],
    actor: Actor<'_>,
) -> Result<Received, CheckError> {
    let license = VerifiedLicense::verify(document, keys).map_err(StoreError::from)?;
    let key = keys
        .iter()
        .find(|k| k.id() == license.key_id())
        .cloned()
        .ok_or_else(|| StoreError::Invalid("no trusted key signed the license".into()))?;
    Ok(store
        .receive_license(&license, &key, document, "issuer", actor)
        .await?)
}

/// A demo installation registers with the serial number and owner (company)
/// name the vendor gave on purchase: the issuer answers with the license and
/// an installation secret for later checks.
pub async fn register(
    store: &Store,
    issuer_url: &str,
    serial: &str,
    company_name: &str,
    keys: &[PublicKey],
    actor: &str,
) -> Result<Received, CheckError> {
    let url = issuer_url.trim_end_matches('/');
    let body = serde_json::json!({"serial": serial, "company_name": company_name});
    let answer: RegisterAnswer = post(&format!("{url}/api/v1/register"), &body, None)
        .await?
        .json()
        .await
        .map_err(|e| CheckError::Unreachable(url.to_owned(), format!("bad answer: {e}")))?;
    let received = take(
        store,
        &answer.license,
        keys,
        Actor {
            name: actor,
            automatic: false,
        },
    )
    .await?;
    store.set_issuer_link(url, serial, &answer.secret).await?;
    keep_statement(store, answer.statement.as_deref()).await;
    Ok(received)
}

/// Keeps the issuer's signed statement; one that does not verify is logged
/// and dropped (the license it came with was checked on its own).
async fn keep_statement(store: &Store, statement: Option<&str>) {
    if let Some(text) = statement {
        if let Err(e) = store.record_statement(text).await {
            tracing::warn!("the issuer's statement was not kept: {e}");
        }
    }
}

/// How the poller asks the issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    No,
    /// The check interval has passed: ask with the last answer's entity tag
    /// (usually an empty 304).
    Conditional,
    /// An administrator asked, the license's nextCheckDate has come, or no
    /// license of the serial is loaded yet: ask for the whole answer.
    Full,
}

/// A full answer at least this often, for the issuer's signed statement
/// (its time keeps the offline limit and the clock check fed).
const FULL_EVERY: time::Duration = time::Duration::hours(6);

/// Checks in the background, looking every `tick` whether the issuer is due:
/// every `interval` (default 15 minutes) with the last answer's entity tag,
/// so a vendor's change reaches a connected installation within one
/// interval while the usual answer is an empty 304; in full when an
/// administrator asked ("check now"), when the license's nextCheckDate has
/// come, at least every six hours, or while no license of the registered
/// serial is loaded.
pub fn spawn_poller(store: Arc<Store>, tick: Duration, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut etag: Option<String> = None;
        let mut full_at: Option<time::OffsetDateTime> = None;
        loop {
            ticks.tick().await;
            let due = match due(&store, interval).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!("issuer poller: {e}");
                    continue;
                }
            };
            let now = time::OffsetDateTime::now_utc();
            let conditional =
                due == Due::Conditional && full_at.is_some_and(|at| now - at < FULL_EVERY) && etag.is_some();
            if due == Due::No {
                continue;
            }
            match check_now_if(&store, etag.as_deref().filter(|_| conditional)).await {
                Ok(o) => {
                    tracing::info!("issuer check: {}", o.status);
                    if o.status != NOT_MODIFIED {
                        full_at = Some(now);
                    }
                    etag = o.etag;
                }
                Err(e) => tracing::warn!("issuer check failed: {e}"),
            }
        }
    })
}

async fn due(store: &Store, interval: Duration) -> Result<Due, StoreError> {
    let Some(link) = store.issuer_link().await? else {
        return Ok(Due::No);
    };
    if link.check_requested != 0 {
        return Ok(Due::Full);
    }
    let last = store.issuer_checks(1).await?;
    let last_at = last.first().and_then(|c| {
        time::OffsetDateTime::parse(&c.at, &time::format_description::well_known::Rfc3339).ok()
    });
    let older_than = |d: time::Duration| last_at.is_none_or(|at| time::OffsetDateTime::now_utc() - at >= d);
    let status = store.license_status().await?;
    let Some(owner) = status.owners.iter().find(|o| o.serial == link.serial_number) else {
        // No license of this serial yet: ask, but not more than every five minutes.
        return Ok(if older_than(time::Duration::minutes(5)) {
            Due::Full
        } else {
            Due::No
        });
    };
    let today = time::OffsetDateTime::now_utc().date();
    let next = owner
        .next_check_date
        .as_deref()
        .and_then(|d| time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]")).ok());
    if next.is_some_and(|n| n <= today) && older_than(FULL_EVERY) {
        return Ok(Due::Full);
    }
    let interval = time::Duration::try_from(interval).unwrap_or(FULL_EVERY);
    Ok(if older_than(interval) {
        Due::Conditional
    } else {
        Due::No
    })
}
