//! System events and jobs (see `lisens_core::events`): stored, listed with
//! filters and pages, ended by someone or by the job that raised them. A job
//! beats its heart while it runs; one whose heart stopped (its process died)
//! is marked failed by the next process that looks.

use lisens_core::events::{ActiveEvent, EventKey, EventScope, EventStatus};
use serde::Serialize;

use crate::{Store, StoreError};

/// A job whose heartbeat is older than this has died.
pub const JOB_HEARTBEAT_STALE_SECS: i64 = 30;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SystemEvent {
    pub id: i64,
    #[sqlx(rename = "event_key")]
    pub key: String,
    pub scope: String,
    pub target: Option<String>,
    pub status: String,
    pub message: String,
    pub description: String,
    /// admin, system or job.
    pub kind: String,
    pub activated_at: String,
    pub activated_by: String,
    /// Expected finish.
    pub eta: Option<String>,
    pub finished_at: Option<String>,
    pub progress: Option<i64>,
    /// What a system message says, as arguments of its key's sentence in
    /// the reader's language (a JSON object of strings); None for an
    /// administrator's own text.
    #[serde(skip)]
    pub args: Option<String>,
}

impl SystemEvent {
    /// The arguments of a system message's sentence.
    pub fn arguments(&self) -> Option<std::collections::BTreeMap<String, String>> {
        serde_json::from_str(self.args.as_deref()?).ok()
    }

    /// Whether a person may end it (see [`Store::end_event_by_hand`]).
    pub fn ends_by_hand(&self) -> bool {
        lisens_core::events::EventKey::from_stored(&self.key).ends_by_hand()
    }
}

/// An event to add.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub key: EventKey,
    pub scope: EventScope,
    pub target: Option<String>,
    pub message: String,
    pub description: String,
    pub eta: Option<String>,
    pub activated_by: String,
}

/// Filters for listing events.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub status: Option<EventStatus>,
    pub scope: Option<EventScope>,
    /// Activated at or after.
    pub since: Option<time::OffsetDateTime>,
}

const COLUMNS: &str = "id, event_key, scope, target, status, message, description, kind, activated_at, \
    activated_by, eta, finished_at, progress, args";

impl Store {
    async fn insert_event(
        &self,
        e: &NewEvent,
        kind: &str,
        status: EventStatus,
        args: Option<&[(&str, &str)]>,
    ) -> Result<i64, StoreError> {
        if e.scope.needs_target() != e.target.is_some() {
            return Err(StoreError::Invalid(format!(
                "a {} event {} a target",
                e.scope.as_str(),
                if e.scope.needs_target() {
                    "needs"
                } else {
                    "takes no"
                }
            )));
        }
        if e.message.is_empty() || e.message.chars().count() > 500 || e.description.chars().count() > 10_000 {
            return Err(StoreError::Invalid(
                "message: 1 to 500 characters; description: at most 10000".into(),
            ));
        }
        let eta = match &e.eta {
            Some(eta) => Some(crate::stamp::encode(
                crate::stamp::parse_rfc3339(eta)
                    .ok_or_else(|| StoreError::Invalid(format!("eta {eta:?} is not an RFC 3339 time")))?,
            )),
            None => None,
        };
        let now = crate::stamp::now();
        let finished = (status != EventStatus::Active).then(|| now.clone());
        let heartbeat = (kind == "job").then(|| now.clone());
        let mut tx = self.begin_write().await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO system_event (event_key, scope, target, status, message, description, kind, activated_at, \
                          activated_by, eta, finished_at, progress, heartbeat_at, runner, args) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
        )
        .bind(e.key.as_str())
        .bind(e.scope.as_str())
        .bind(e.target.as_deref())
        .bind(status.as_str())
        .bind(&e.message)
        .bind(&e.description)
        .bind(kind)
        .bind(&now)
        .bind(&e.activated_by)
        .bind(eta)
        .bind(finished)
        .bind((kind == "job").then_some(0i64))        .bind(heartbeat)
        .bind((kind == "job").then(this_process))
        .bind(args.map(|a| {
            let map: std::collections::BTreeMap<&str, &str> = a.iter().copied().collect();
            serde_json::to_string(&map).expect("strings serialise")
        }))
        .fetch_one(&mut *tx)
        .await?;
        self.bump_version(&mut tx).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// An administrator adds an event (active until ended).
    pub async fn add_event(&self, e: &NewEvent) -> Result<i64, StoreError> {
        if matches!(e.key, EventKey::System(_)) {
            return Err(StoreError::Invalid(
                "system events are raised by the system".into(),
            ));
        }
        self.insert_event(e, "admin", EventStatus::Active, None).await
    }

    /// The system records something that happened (finished at once) or is
    /// going on (active, e.g. a pending license or an unreachable issuer).
    pub async fn raise_event(
        &self,
        key: &str,
        message: &str,
        description: &str,
        active: bool,
    ) -> Result<i64, StoreError> {
        self.raise_event_by(key, message, None, description, active, "system")
            .await
    }

    /// As [`Store::raise_event`], for something a person did (`by`: their
    /// login name, shown as "Activated by"), and with `args`: what the
    /// message says as arguments of its key's sentence, so each reader sees
    /// it in their language (`message` is the English text, for the API
    /// and the log).
    pub async fn raise_event_by(
        &self,
        key: &str,
        message: &str,
        args: Option<&[(&str, &str)]>,
        description: &str,
        active: bool,
        by: &str,
    ) -> Result<i64, StoreError> {
        let e = NewEvent {
            key: EventKey::System(key.to_owned()),
            scope: EventScope::System,
            target: None,
            message: stored_message(message),
            description: description.chars().take(10_000).collect(),
            eta: None,
            activated_by: by.into(),
        };
        let status = if active {
            EventStatus::Active
        } else {
            EventStatus::Finished
        };
        self.insert_event(&e, "system", status, args).await
    }

    /// Ends every active system event with this key (e.g. when the issuer answers again).
    pub async fn end_system_events(&self, key: &str) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE system_event SET status = 'finished', finished_at = $2 \
             WHERE event_key = $1 AND status = 'active' AND kind = 'system'",
        )
        .bind(key)
        .bind(crate::stamp::now())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() > 0 {
            self.bump_version(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Ends an active event (finished, or failed for a job).
    /// Ends an active event as a person asked (an administrator, the
    /// command line): refused for a message that ends by itself
    /// ([`EventKey::ends_by_hand`](lisens_core::events::EventKey::ends_by_hand)).
    pub async fn end_event_by_hand(&self, id: i64, status: EventStatus) -> Result<(), StoreError> {
        let key: Option<(String,)> =
            sqlx::query_as("SELECT event_key FROM system_event WHERE id = $1 AND status = 'active'")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        let Some((key,)) = key else {
            return Err(StoreError::NotFound(format!("no active event {id}")));
        };
        if !lisens_core::events::EventKey::from_stored(&key).ends_by_hand() {
            return Err(StoreError::EndsItself(key));
        }
        self.end_event(id, status).await
    }

    pub async fn end_event(&self, id: i64, status: EventStatus) -> Result<(), StoreError> {
        if status == EventStatus::Active {
            return Err(StoreError::Invalid("an event ends as finished or failed".into()));
        }
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE system_event SET status = $2, finished_at = $3 WHERE id = $1 AND status = 'active'",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(crate::stamp::now())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("no active event {id}")));
        }
        self.bump_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn events(
        &self,
        filter: &EventFilter,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<SystemEvent>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM system_event WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR scope = $2) \
             AND ($3 IS NULL OR activated_at >= $3) ORDER BY id DESC LIMIT $4 OFFSET $5"
        ))
        .bind(filter.status.map(EventStatus::as_str))
        .bind(filter.scope.map(EventScope::as_str))
        .bind(filter.since.map(crate::stamp::encode))
        .bind(limit.clamp(1, 1000))
        .bind(offset.max(0))
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn event(&self, id: i64) -> Result<Option<SystemEvent>, StoreError> {
        Ok(
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM system_event WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The active events, for the access view.
    pub(crate) async fn active_events(&self) -> Result<Vec<ActiveEvent>, StoreError> {
        let rows: Vec<(String, String, Option<String>, String)> = sqlx::query_as(
            "SELECT event_key, scope, target, message FROM system_event WHERE status = 'active' ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(key, scope, target, message)| {
                Some(ActiveEvent {
                    key: EventKey::from_stored(&key),
                    scope: EventScope::parse(&scope).ok()?,
                    target,
                    message,
                })
            })
            .collect())
    }

    /// Starts a long job: an active event with progress and a heartbeat.
    pub async fn start_job(
        &self,
        name: &str,
        message: &str,
        eta: Option<String>,
        by: &str,
    ) -> Result<i64, StoreError> {
        let e = NewEvent {
            key: EventKey::System(format!("job:{name}")),
            scope: EventScope::System,
            target: None,
            message: message.to_owned(),
            description: String::new(),
            eta,
            activated_by: by.to_owned(),
        };
        self.insert_event(&e, "job", EventStatus::Active, None).await
    }

    /// Reports progress (0-100); also the job's heartbeat.
    pub async fn job_progress(&self, id: i64, percent: i64, description: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE system_event SET progress = $2, description = $3, heartbeat_at = $4 WHERE id = $1 AND status = 'active'",
        )
        .bind(id)
        .bind(percent.clamp(0, 100))
        .bind(description)
        .bind(crate::stamp::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends a job: finished, or failed with what went wrong.
    pub async fn finish_job(&self, id: i64, ok: bool, description: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE system_event SET status = $2, description = $3, finished_at = $4, progress = CASE WHEN $2 = 'finished' THEN 100 ELSE progress END \
             WHERE id = $1 AND status = 'active'",
        )
        .bind(id)
        .bind(if ok { "finished" } else { "failed" })
        .bind(description)
        .bind(crate::stamp::now())
        .execute(&mut *tx)
        .await?;
        self.bump_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks jobs whose process died as failed: one on this host whose
    /// process is gone (found at once, e.g. at a restart), or any whose
    /// heartbeat stopped (another host).
    pub async fn fail_dead_jobs(&self) -> Result<u64, StoreError> {
        let active: Vec<(i64, Option<String>)> =
            sqlx::query_as("SELECT id, runner FROM system_event WHERE kind = 'job' AND status = 'active'")
                .fetch_all(&self.pool)
                .await?;
        let host = format!("{}:", hostname());
        let mut gone = 0;
        for (id, runner) in active {
            let pid = runner
                .as_deref()
                .and_then(|r| r.strip_prefix(&host))
                .and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists()) {
                self.finish_job(id, false, "the process running this job stopped")
                    .await?;
                gone += 1;
            }
        }
        let stale = crate::stamp::encode(
            time::OffsetDateTime::now_utc() - time::Duration::seconds(JOB_HEARTBEAT_STALE_SECS),
        );
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE system_event SET status = 'failed', finished_at = $2, \
             description = description || ' (the process running this job stopped)' \
             WHERE kind = 'job' AND status = 'active' AND heartbeat_at < $1",
        )
        .bind(stale)
        .bind(crate::stamp::now())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() > 0 {
            self.bump_version(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() + gone)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// This process, as "host:pid".
fn this_process() -> String {
    format!("{}:{}", hostname(), std::process::id())
}

/// A system message as stored: its first 500 characters.
pub(crate) fn stored_message(message: &str) -> String {
    message.chars().take(500).collect()
}
