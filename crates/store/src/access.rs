//! The access view: an in-memory [`AccessSnapshot`] of users, valid module
//! rows, links and tokens, so a check is a hash lookup. Every write bumps the
//! data version; a refresher polls it (every 250 ms by default) and rebuilds
//! the snapshot when it moved, so a change made by any process sharing the
//! database reaches every process within a second.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use lisens_core::access::{AccessSnapshot, CheckModule, LinkWindow, UserFacts};
use lisens_core::trust::{standing_links, HeldRow, Standing, StoredLink};
use lisens_core::ModuleName;
use time::OffsetDateTime;

use crate::license::LicenseStatus;
use crate::tokens::{token_digest, TokenScope};
use crate::{Store, StoreError};

/// A snapshot plus the live API tokens.
pub struct View {
    pub access: AccessSnapshot,
    /// Keyed by the SHA-256 digest itself, so a check hashes the presented
    /// secret and looks it up without making text of it.
    tokens: HashMap<[u8; 32], TokenScope>,
    /// What this build found wrong with the stored data.
    pub integrity: Integrity,
    built: std::time::Instant,
    build_took: Duration,
}

impl View {
    /// The scope of a presented token, if it is live.
    pub fn token_scope(&self, secret: &str) -> Option<TokenScope> {
        // Looked up by SHA-256 of the secret: timing reveals nothing about
        // any stored secret.
        self.tokens.get(&token_digest(secret)).copied()
    }
}

/// A stored link: id, user, module row, valid from, valid to.
type LinkRow = (i64, i64, i64, Option<String>, Option<String>);

/// How often the view is rebuilt even when no write moved the data version,
/// so a hand edit of the database is seen within 5 seconds.
pub const REVERIFY_EVERY: Duration = Duration::from_secs(3);

/// When to re-verify again: every [`REVERIFY_EVERY`], but never spending
/// more than a tenth of one core on it (a very large installation, whose
/// rebuild takes over 300 ms, re-verifies every ten rebuild-times).
pub fn reverify_after(build_took: Duration) -> Duration {
    REVERIFY_EVERY.max(build_took * 10)
}

pub struct AccessView {
    store: Arc<Store>,
    current: RwLock<Arc<View>>,
}

impl AccessView {
    pub async fn new(store: Arc<Store>) -> Result<Arc<Self>, StoreError> {
        let view = store.build_view().await?;
        Ok(Arc::new(Self {
            store,
            current: RwLock::new(Arc::new(view)),
        }))
    }

    /// The current view; cheap (an Arc clone under a read lock).
    pub fn get(&self) -> Arc<View> {
        self.current.read().expect("access view lock").clone()
    }

    /// Rebuilds the view when the data version moved, or when the view is
    /// older than [`REVERIFY_EVERY`]: a row edited by hand, behind lisens's
    /// back, moves no version, and is caught by the periodic rebuild, which
    /// re-checks every signature (through the verdict cache), every count and
    /// every prerequisite. Returns whether it rebuilt.
    pub async fn refresh(&self) -> Result<bool, StoreError> {
        let current = self.get();
        let moved = self.store.data_version().await? != current.access.version;
        if !moved && current.built.elapsed() < reverify_after(current.build_took) {
            return Ok(false);
        }
        let view = self.store.build_view().await?;
        let mut current = self.current.write().expect("access view lock");
        if view.access.version >= current.access.version {
            *current = Arc::new(view);
        }
        Ok(true)
    }

    /// Polls the data version in the background until the returned handle is
    /// aborted (or the view dropped).
    pub fn spawn_refresher(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(view) = weak.upgrade() else { return };
                if let Err(e) = view.refresh().await {
                    tracing::warn!("access view refresh failed: {e}");
                }
            }
        })
    }
}

impl Store {
    async fn build_view(&self) -> Result<View, StoreError> {
        let started = std::time::Instant::now();
        // Read the version first: a change that lands while we read makes the
        // next poll see a newer version and rebuild again.
        let version = self.data_version().await?;
        let status = self.license_status().await?;
        let mut access = AccessSnapshot {
            version,
            // license_status puts the primary owner first.
            primary: 0,
            login: status
                .owners
                .first()
                .and_then(|o| o.product.as_ref())
                .map(|p| p.login.clone()),
            latest_seen: status
                .latest_seen
                .as_deref()
                .and_then(crate::stamp::parse_rfc3339),
            ..Default::default()
        };
        let mut held_rows = Vec::new();
        let mut names: HashMap<i64, (ModuleName, usize)> = HashMap::new();
        for (i, o) in status.owners.iter().enumerate() {
            access.owners.push(o.dates.clone());
            for m in &o.modules {
                let Some(parsed) = &m.parsed else { continue };
                names.insert(m.id, (parsed.name.clone(), i));
                held_rows.push(HeldRow {
                    id: m.id,
                    owner: i,
                    name: parsed.name.clone(),
                    module_type: parsed.module_type,
                    count: u32::try_from(m.total).unwrap_or(0),
                    prerequisite: parsed.prerequisite.clone(),
                });
                access
                    .modules
                    .entry(parsed.name.clone())
                    .or_default()
                    .push(CheckModule {
                        module_type: parsed.module_type,
                        valid: m.effective(),
                        owner: i,
                    });
            }
        }
        let users: Vec<(i64, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT id, login_name, active, login_rights, is_admin FROM associate ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        for (id, login, active, rights, admin) in users {
            access.users.insert(
                lisens_core::LoginName::fold(&login).into_owned(),
                UserFacts {
                    id,
                    active: active != 0,
                    login_rights: rights != 0,
                    is_admin: admin != 0,
                },
            );
        }
        if let Some(demo) = &status.demo {
            let users = access
                .users
                .values()
                .filter(|u| u.active && u.login_rights)
                .map(|u| u.id)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .take(demo.max_users)
                .collect();
            let until = self.installed_at().await? + time::Duration::days(lisens_core::access::DEMO_DAYS);
            access.demo = Some(lisens_core::access::DemoAllowance { until, users });
        }
        let links: Vec<LinkRow> = sqlx::query_as(
            "SELECT id, assoc_id, module_license_id, valid_from, valid_to FROM license_assoc_link",
        )
        .fetch_all(&self.pool)
        .await?;
        // Counts and prerequisites hold at read time: only the links that
        // stand by core's rule grant, whatever was written behind our back.
        let stored: Vec<StoredLink> = links
            .iter()
            .map(|(id, user, row, _, _)| StoredLink {
                id: *id,
                user: *user,
                row: *row,
            })
            .collect();
        let standing = standing_links(&held_rows, &stored);
        for (id, assoc, module, from, to) in links {
            if !standing.links.contains(&id) {
                continue;
            }
            let Some((name, owner)) = names.get(&module) else {
                continue;
            };
            // An unparsable window is treated as closed: never grant on junk.
            let parse = |v: Option<String>| match v {
                None => Ok(None),
                Some(s) => crate::stamp::decode("valid_from/valid_to", &s).map(Some),
            };
            let window = match (parse(from), parse(to)) {
                (Ok(valid_from), Ok(valid_to)) => LinkWindow {
                    valid_from,
                    valid_to,
                    owner: *owner,
                },
                _ => LinkWindow {
                    valid_from: Some(OffsetDateTime::UNIX_EPOCH),
                    valid_to: Some(OffsetDateTime::UNIX_EPOCH),
                    owner: *owner,
                },
            };
            access
                .links
                .entry(assoc)
                .or_default()
                .entry(name.clone())
                .or_default()
                .push(window);
        }
        access.events = self.active_events().await?;
        let tokens = self
            .live_tokens()
            .await?
            .into_iter()
            .filter_map(|(hash, scope)| {
                let mut digest = [0u8; 32];
                hex::decode_to_slice(&hash, &mut digest).ok()?;
                TokenScope::parse(&scope).ok().map(|s| (digest, s))
            })
            .collect();
        let integrity = Integrity::of(&status, &standing, &names);
        Ok(View {
            access,
            tokens,
            integrity,
            built: std::time::Instant::now(),
            build_took: started.elapsed(),
        })
    }
}

/// What the last re-verification found wrong with the stored data: the
/// server raises a system message and an audit row for each new finding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Integrity {
    /// One sentence per finding, in a stable order.
    pub findings: Vec<String>,
}

impl Integrity {
    fn of(status: &LicenseStatus, standing: &Standing, names: &HashMap<i64, (ModuleName, usize)>) -> Self {
        let mut findings = Vec::new();
        if status.clock_set_back {
            findings.push(format!(
                "the clock is behind the latest time this installation has seen ({}): \
                 the license counts as expired until the clock is right",
                status.latest_seen.as_deref().unwrap_or("?")
            ));
        }
        for o in &status.owners {
            if let Some(p) = &o.problem {
                findings.push(format!("the license of {} is not valid: {p}", o.owner_name));
                continue;
            }
            for m in o.modules.iter().filter(|m| m.problem.is_some()) {
                findings.push(format!(
                    "module row {} of {} is not valid: {}",
                    m.name,
                    o.owner_name,
                    m.problem.as_deref().unwrap_or_default()
                ));
            }
        }
        for (row, (holders, count)) in &standing.over_count {
            let name = names.get(row).map(|(n, _)| n.as_str()).unwrap_or("?");
            findings.push(format!(
                "{name}: {holders} holders stored, {count} licensed; only the first {count} count"
            ));
        }
        if !standing.without_prerequisite.is_empty() {
            findings.push(format!(
                "{} assignment(s) lack their prerequisite module and grant nothing",
                standing.without_prerequisite.len()
            ));
        }
        Self { findings }
    }
}

/// The system event key of integrity findings.
pub const INTEGRITY_EVENT: &str = "license-integrity";

impl Store {
    /// Makes the active `license-integrity` system messages match the
    /// findings: a new finding raises one (and an audit row), a finding that
    /// went away ends its message. Idempotent, so every process of a
    /// scale-out may call it after each re-verification.
    pub async fn report_integrity(&self, integrity: &Integrity) -> Result<(), StoreError> {
        let active: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, message FROM system_event WHERE status = 'active' AND kind = 'system' AND event_key = $1",
        )
        .bind(INTEGRITY_EVENT)
        .fetch_all(&self.pool)
        .await?;
        for finding in &integrity.findings {
            if active
                .iter()
                .any(|(_, m)| *m == crate::events::stored_message(finding))
            {
                continue;
            }
            tracing::warn!("license integrity: {finding}");
            self.raise_event(
                INTEGRITY_EVENT,
                finding,
                "found by the periodic re-verification of the stored license",
                true,
            )
            .await?;
            self.record_audit(&crate::audit::NewAudit {
                actor: "system".into(),
                address: "local".into(),
                action: "license integrity".into(),
                target: String::new(),
                detail: finding.clone(),
            })
            .await?;
        }
        for (id, message) in &active {
            if !integrity
                .findings
                .iter()
                .any(|f| crate::events::stored_message(f) == *message)
            {
                // Another process may have ended it first.
                match self
                    .end_event(*id, lisens_core::events::EventStatus::Finished)
                    .await
                {
                    Ok(()) | Err(StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}
