//! `lisens serve`, and what it shares with the other commands: `Db`, the
//! installation's database with the keys this process pins (every command
//! opens the store through it), and `serve_store`, which serves an open
//! store over HTTP (the demo serves through it too).

use std::path::PathBuf;
use std::sync::Arc;

use lisens_core::codes;
use lisens_core::PublicKey;
use lisens_store::Store;

use crate::args::ServeArgs;
use crate::config;
use crate::failure::{Failure, Outcome};
use crate::files::read_public_keys;

pub(crate) async fn serve(database: &Db, args: ServeArgs, config: &config::Config) -> Outcome {
    let database = database.pinning(&args.public_keys)?;
    let listen = args.listen.as_deref().unwrap_or(&config.listen);
    serve_store(database.open().await?, listen, config, |addr| {
        println!("lisens listening on http://{addr}/")
    })
    .await
}

/// The installation's database and the keys this process pins: every
/// command opens the store through it, so every path that decides (check,
/// status, serve, load) uses the same trusted-key set.
pub(crate) struct Db {
    pub(crate) url: String,
    pub(crate) pinned: Vec<PublicKey>,
}

impl Db {
    /// This database with more keys pinned.
    pub(crate) fn pinning(&self, more: &[PathBuf]) -> Result<Db, Failure> {
        let mut pinned = self.pinned.clone();
        pinned.extend(read_public_keys(more)?);
        Ok(Db {
            url: self.url.clone(),
            pinned,
        })
    }

    pub(crate) async fn open(&self) -> Result<Store, Failure> {
        Ok(Store::open(&self.url)
            .await?
            .with_pinned_keys(self.pinned.clone()))
    }
}

pub(crate) async fn serve_store(
    store: Store,
    listen: &str,
    config: &config::Config,
    announce: impl FnOnce(std::net::SocketAddr),
) -> Outcome {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Failure::new(codes::LISTEN_FAILED, format!("cannot listen on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::new(codes::LISTEN_FAILED, e.to_string()))?;
    let store = Arc::new(store);
    let state = lisens_server::AppState::new(store.clone(), config.server.clone()).await?;
    lisens_server::issuer_client::spawn_poller(store, config.issuer_poll, config.issuer_check_interval);
    announce(addr);
    lisens_server::serve(listener, state, lisens_server::shutdown_signal())
        .await
        .map_err(|e| Failure::new(codes::SERVER_ERROR, e.to_string()))
}
