//! Metered usage: idempotent ingest (an event's id counts once, also when two
//! copies race: the dedup and the monthly totals commit in one transaction),
//! monthly totals kept up to date so reports never scan raw events, and the
//! report against the signed policy.

use std::collections::{BTreeMap, HashMap};

use lisens_core::codes;
use lisens_core::metering::{check_event, month_of, CheckedEvent, EventError, EventRules, Policy, Zone};
use lisens_core::Month;
use lisens_core::ServiceKey;
use serde::{Deserialize, Serialize};

use crate::license::LicenseStatus;
use crate::{ItemError, Store, StoreError};

/// At most this many events in one batch.
pub const MAX_BATCH: usize = 1000;

/// One usage event as sent by a CRM component.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageEvent {
    /// The idempotency key: a re-sent event is accepted and counted once.
    pub id: String,
    pub service: String,
    /// A count (or bytes for storage): a non-negative integer.
    #[schema(value_type = u64)]
    pub quantity: serde_json::Value,
    /// RFC 3339.
    pub occurred_at: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct IngestResult {
    pub accepted: usize,
    /// Events whose id was seen before (counted once, not again).
    pub duplicates: usize,
}

pub use lisens_core::metering::{ServiceUsage, UsageReport};

/// The metering policies in the verified license for the primary owner's
/// product's services (rows that failed their signature check give none).
pub fn policies(status: &LicenseStatus) -> HashMap<ServiceKey, Policy> {
    let product = status.product();
    status
        .owners
        .iter()
        .flat_map(|o| &o.modules)
        .filter(|m| m.effective())
        .filter_map(|m| m.parsed.as_ref())
        .filter_map(|m| Policy::from_module(m, product)?.ok())
        .map(|p| (p.service.clone(), p))
        .collect()
}

/// 1 to `MAX_BATCH` events, or `BATCH_SIZE`.
fn batch_size(n: usize) -> Result<(), StoreError> {
    if n == 0 || n > MAX_BATCH {
        return Err(StoreError::BatchInvalid(vec![ItemError {
            index: 0,
            code: codes::BATCH_SIZE.into(),
            detail: format!("a batch holds 1 to {MAX_BATCH} events, not {n}"),
        }]));
    }
    Ok(())
}

impl Store {
    /// Ingests a batch, all or nothing: any bad item refuses the batch with
    /// every item's error.
    pub async fn ingest(&self, batch: &[UsageEvent], zone: &Zone) -> Result<IngestResult, StoreError> {
        batch_size(batch.len())?;
        let installed = self.installed_at().await?;
        // The services are the product's: read from the license rows kept
        // for a second, so a batch does not re-verify the license.
        let rows = self.verified_rows(false).await?;
        let rules = EventRules {
            now: crate::clock::now(),
            installed,
            zone,
            product: rows.product(),
        };
        let mut errors = Vec::new();
        let mut checked = Vec::with_capacity(batch.len());
        for (index, e) in batch.iter().enumerate() {
            match check_event(&e.id, &e.service, &e.quantity, &e.occurred_at, &rules) {
                Ok(c) => checked.push(c),
                Err(EventError { code, detail }) => errors.push(ItemError {
                    index,
                    code: code.into(),
                    detail,
                }),
            }
        }
        if !errors.is_empty() {
            return Err(StoreError::BatchInvalid(errors));
        }
        self.ingest_checked(&checked).await
    }

    /// Stores a batch of events that `check_event` accepted (the command
    /// line's import checks its whole file first), all or nothing.
    pub async fn ingest_checked(&self, checked: &[CheckedEvent]) -> Result<IngestResult, StoreError> {
        batch_size(checked.len())?;
        let received = crate::stamp::now();
        if self.backend == crate::Backend::Postgres {
            return self.ingest_pg(checked, &received).await;
        }
        let mut tx = self.begin_write().await?;
        // One multi-row insert; the ids it returns are the new ones.
        let mut sql = String::from(
            "INSERT INTO metering_event (id, service, quantity, occurred_at, month, received_at) VALUES ",
        );
        for i in 0..checked.len() {
            let b = i * 6;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6
            ));
        }
        sql.push_str(" ON CONFLICT (id) DO NOTHING RETURNING id");
        let mut q = sqlx::query_as::<_, (String,)>(&sql);
        for c in checked {
            q = q
                .bind(&c.id)
                .bind(c.service.as_str())
                .bind(c.quantity)
                .bind(&c.occurred_at)
                .bind(c.month.as_str())
                .bind(&received);
        }
        let inserted: std::collections::HashSet<String> =
            q.fetch_all(&mut *tx).await?.into_iter().map(|(id,)| id).collect();
        // A batch may carry the same id twice: the first copy counts.
        let mut seen = std::collections::HashSet::new();
        let mut totals: BTreeMap<(&str, &Month), (bool, i64)> = BTreeMap::new();
        for c in checked {
            if inserted.contains(&c.id) && seen.insert(c.id.as_str()) {
                let slot = totals
                    .entry((c.service.as_str(), &c.month))
                    .or_insert((c.gauge, 0));
                slot.1 = if c.gauge {
                    slot.1.max(c.quantity)
                } else {
                    slot.1 + c.quantity
                };
            }
        }
        for ((service, month), (gauge, value)) in &totals {
            let merge = if *gauge {
                "CASE WHEN excluded.value > metering_month.value THEN excluded.value ELSE metering_month.value END"
            } else {
                "metering_month.value + excluded.value"
            };
            sqlx::query(&format!(
                "INSERT INTO metering_month (service, month, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (service, month) DO UPDATE SET value = {merge}"
            ))
            .bind(*service)
            .bind(month.as_str())
            .bind(value)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        let accepted = seen.len();
        Ok(IngestResult {
            accepted,
            duplicates: checked.len() - accepted,
        })
    }

    /// PostgreSQL: one statement inserts the new events and adds them to the
    /// monthly totals (a data-modifying CTE), so a batch is a single round
    /// trip and its rows never come back to us. The rows travel as one JSON
    /// parameter (`json_to_recordset`) rather than 6,000 bound parameters,
    /// which PostgreSQL parses and plans much faster.
    async fn ingest_pg(&self, checked: &[CheckedEvent], received: &str) -> Result<IngestResult, StoreError> {
        #[derive(Serialize)]
        struct Row<'a> {
            id: &'a str,
            service: &'a str,
            quantity: i64,
            occurred_at: &'a str,
            month: &'a str,
        }
        let rows: Vec<Row> = checked
            .iter()
            .map(|c| Row {
                id: &c.id,
                service: c.service.as_str(),
                quantity: c.quantity,
                occurred_at: &c.occurred_at,
                month: c.month.as_str(),
            })
            .collect();
        let rows = serde_json::to_string(&rows).expect("strings and numbers serialise");
        // The batch's gauge services (keys are a-z 0-9 _, checked), as a
        // JSON array: a gauge keeps its highest reading, a counter sums.
        let mut gauges: Vec<&str> = checked
            .iter()
            .filter(|c| c.gauge)
            .map(|c| c.service.as_str())
            .collect();
        gauges.sort_unstable();
        gauges.dedup();
        let gauges = serde_json::to_string(&gauges).expect("strings serialise");
        let sql = "WITH src AS (SELECT * FROM json_to_recordset(CAST($1 AS json)) \
             AS x(id text, service text, quantity bigint, occurred_at text, month text)), \
             g AS (SELECT json_array_elements_text(CAST($3 AS json)) AS service), \
             ins AS (INSERT INTO metering_event (id, service, quantity, occurred_at, month, received_at) \
             SELECT id, service, quantity, occurred_at, month, CAST($2 AS text) FROM src \
             ON CONFLICT (id) DO NOTHING RETURNING service, month, quantity), \
             agg AS (SELECT service, month, CAST(CASE WHEN service IN (SELECT service FROM g) THEN MAX(quantity) ELSE SUM(quantity) END AS BIGINT) AS value \
             FROM ins GROUP BY service, month), \
             upd AS (INSERT INTO metering_month (service, month, value) SELECT service, month, value FROM agg \
             ON CONFLICT (service, month) DO UPDATE SET value = CASE WHEN metering_month.service IN (SELECT service FROM g) \
             THEN GREATEST(metering_month.value, excluded.value) ELSE metering_month.value + excluded.value END RETURNING 1) \
             SELECT CAST(COUNT(*) AS BIGINT) FROM ins";
        let (accepted,): (i64,) = sqlx::query_as(sql)
            .bind(rows)
            .bind(received)
            .bind(gauges)
            .fetch_one(&self.pool)
            .await?;
        let accepted = accepted as usize;
        Ok(IngestResult {
            accepted,
            duplicates: checked.len() - accepted,
        })
    }

    /// Records this month's billable users (the highest count seen) and
    /// raises the 80 % / 100 % threshold messages. The server runs it every
    /// few seconds, and the CLI after it reports usage, so ingest itself
    /// stays a single transaction that never reads the license.
    pub async fn check_thresholds(&self, zone: &Zone) -> Result<(), StoreError> {
        let status = self.license_status().await?;
        let month = month_of(crate::clock::now(), zone);
        sqlx::query(
            "INSERT INTO metering_users (month, max_users) VALUES ($1, $2) ON CONFLICT (month) DO UPDATE SET \
             max_users = CASE WHEN excluded.max_users > metering_users.max_users THEN excluded.max_users ELSE metering_users.max_users END",
        )
        .bind(month.as_str())
        .bind(status.users.active_users)
        .execute(&self.pool)
        .await?;
        let services: Vec<ServiceKey> = status.product().services.iter().map(|s| s.key.clone()).collect();
        self.raise_threshold_alerts(&status, &services, month.as_str())
            .await
    }

    /// The report of a month, from the maintained totals.
    pub async fn usage_report(&self, month: &Month, zone: &Zone) -> Result<UsageReport, StoreError> {
        let status = self.license_status().await?;
        let policies = policies(&status);
        let totals: HashMap<String, i64> =
            sqlx::query_as::<_, (String, i64)>("SELECT service, value FROM metering_month WHERE month = $1")
                .bind(month.as_str())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .collect();
        let users: Option<(i64,)> = sqlx::query_as("SELECT max_users FROM metering_users WHERE month = $1")
            .bind(month.as_str())
            .fetch_optional(&self.pool)
            .await?;
        let now = crate::clock::now();
        let current = month_of(now, zone) == *month;
        let billable = lisens_core::metering::billable_users(
            users.map(|(n,)| n),
            current.then_some(status.users.active_users),
        );
        let totals: HashMap<String, u64> = totals
            .into_iter()
            .map(|(s, v)| (s, u64::try_from(v).unwrap_or(0)))
            .collect();
        Ok(lisens_core::metering::report(
            month,
            billable,
            &totals,
            &policies,
            status.product(),
            now,
            zone,
        ))
    }

    /// One service's value for each month asked for (0 where none).
    pub async fn usage_history(
        &self,
        months: &[Month],
    ) -> Result<Vec<(String, HashMap<String, u64>)>, StoreError> {
        let mut out = Vec::new();
        for m in months {
            let rows: Vec<(String, i64)> =
                sqlx::query_as("SELECT service, value FROM metering_month WHERE month = $1")
                    .bind(m.as_str())
                    .fetch_all(&self.pool)
                    .await?;
            out.push((
                m.to_string(),
                rows.into_iter().map(|(s, v)| (s, v.max(0) as u64)).collect(),
            ));
        }
        Ok(out)
    }

    /// Raises a system message the first time a service passes 80 % and 100 %
    /// of its threshold in the month.
    async fn raise_threshold_alerts(
        &self,
        status: &LicenseStatus,
        changed: &[ServiceKey],
        month: &str,
    ) -> Result<(), StoreError> {
        if changed.is_empty() {
            return Ok(());
        }
        let policies = policies(status);
        let users: Option<(i64,)> = sqlx::query_as("SELECT max_users FROM metering_users WHERE month = $1")
            .bind(month)
            .fetch_optional(&self.pool)
            .await?;
        let billable =
            lisens_core::metering::billable_users(users.map(|(n,)| n), Some(status.users.active_users));
        for service in changed {
            let Some(policy) = policies.get(service) else {
                continue;
            };
            let usage: Option<(i64,)> =
                sqlx::query_as("SELECT value FROM metering_month WHERE service = $1 AND month = $2")
                    .bind(service.as_str())
                    .bind(month)
                    .fetch_optional(&self.pool)
                    .await?;
            let usage = usage.map_or(0, |(u,)| u.max(0) as u64);
            let threshold = policy.threshold(billable);
            let percent = lisens_core::metering::percent(usage, threshold);
            let s = (service.as_str(), usage, threshold);
            for level in [80i64, 100] {
                if percent < level as u64 {
                    continue;
                }
                let fresh = sqlx::query(
                    "INSERT INTO metering_alert (service, month, level, raised_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (service, month, level) DO NOTHING",
                )
                .bind(s.0)
                .bind(month)
                .bind(level)
                .bind(crate::stamp::now())
                .execute(&self.pool)
                .await?;
                if fresh.rows_affected() == 1 {
                    let message = format!("{} reached {level}% of its threshold in {month}", s.0);
                    let detail = format!("usage {} of {} included", s.1, s.2);
                    let level = level.to_string();
                    self.raise_event_by(
                        "metering-threshold",
                        &message,
                        Some(&[("service", s.0), ("level", &level), ("month", month)]),
                        &detail,
                        false,
                        "system",
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// Deletes raw events received before the retention period; the monthly
    /// totals stay.
    pub async fn purge_metering_events(&self, keep_days: i64) -> Result<u64, StoreError> {
        let cutoff = crate::stamp::encode(crate::clock::now() - time::Duration::days(keep_days.max(1)));
        let done = sqlx::query("DELETE FROM metering_event WHERE received_at < $1")
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
