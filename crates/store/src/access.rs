//! The access view: an in-memory [`AccessSnapshot`] of users, valid module
//! rows, links and tokens, so a check is a hash lookup. Every write bumps the
//! data version; a refresher polls it (every 250 ms by default) and rebuilds
//! the snapshot when it moved, so a change made by any process sharing the
//! database reaches every process within a second.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use lisens_core::access::{AccessSnapshot, CheckModule, LinkWindow, UserFacts};
use lisens_core::ModuleName;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::tokens::{token_hash, TokenScope};
use crate::{Store, StoreError};

/// A snapshot plus the live API tokens.
pub struct View {
    pub access: AccessSnapshot,
    tokens: HashMap<String, TokenScope>,
}

impl View {
    /// The scope of a presented token, if it is live.
    pub fn token_scope(&self, secret: &str) -> Option<TokenScope> {
        // Looked up by SHA-256 of the secret: timing reveals nothing about
        // any stored secret.
        self.tokens.get(&token_hash(secret)).copied()
    }
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

    /// Rebuilds the view when the data version moved. Returns whether it did.
    pub async fn refresh(&self) -> Result<bool, StoreError> {
        let seen = self.get().access.version;
        if self.store.data_version().await? == seen {
            return Ok(false);
        }
        let view = self.store.build_view().await?;
        let mut current = self.current.write().expect("access view lock");
        if view.access.version > current.access.version {
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
        // Read the version first: a change that lands while we read makes the
        // next poll see a newer version and rebuild again.
        let version = self.data_version().await?;
        let status = self.license_status().await?;
        let mut access = AccessSnapshot {
            version,
            ..Default::default()
        };
        let mut names: HashMap<i64, (ModuleName, usize)> = HashMap::new();
        for (i, o) in status.owners.iter().enumerate() {
            access.owners.push(o.dates.clone());
            for m in &o.modules {
                let Some(parsed) = &m.parsed else { continue };
                names.insert(m.id, (parsed.name.clone(), i));
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
        if status.owners.is_empty() {
            let users = access
                .users
                .values()
                .filter(|u| u.active && u.login_rights)
                .map(|u| u.id)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .take(lisens_core::access::DEMO_USERS)
                .collect();
            let until = self.installed_at().await? + time::Duration::days(lisens_core::access::DEMO_DAYS);
            access.demo = Some(lisens_core::access::DemoAllowance { until, users });
        }
        let links: Vec<(i64, i64, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT assoc_id, module_license_id, valid_from, valid_to FROM license_assoc_link",
        )
        .fetch_all(&self.pool)
        .await?;
        for (assoc, module, from, to) in links {
            let Some((name, owner)) = names.get(&module) else {
                continue;
            };
            // An unparsable window is treated as closed: never grant on junk.
            let parse = |v: Option<String>| match v {
                None => Ok(None),
                Some(s) => OffsetDateTime::parse(&s, &Rfc3339).map(Some),
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
                .insert(name.clone(), window);
        }
        access.events = self.active_events().await?;
        let tokens = self
            .live_tokens()
            .await?
            .into_iter()
            .filter_map(|(hash, scope)| TokenScope::parse(&scope).ok().map(|s| (hash, s)))
            .collect();
        Ok(View { access, tokens })
    }
}
