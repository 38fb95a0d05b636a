//! Back-pressure: at most `max_in_flight` requests are served at once (more
//! are refused at once with 503 `OVERLOADED` and `Retry-After`, so memory
//! stays bounded under overload instead of queueing), and a request that
//! takes longer than `request_timeout` is abandoned with 503
//! `REQUEST_TIMEOUT` (its transaction, if any, rolls back). Bodies are
//! bounded by `BODY_LIMIT`. Health checks are never refused, so a load
//! balancer does not take an overloaded but working server out of rotation.
//! Connections are bounded too (`serve`): at most `max_connections` open,
//! and a client that does not send its headers within `header_timeout` (or
//! leaves a keep-alive connection idle that long) is disconnected.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::ApiError;
use lisens_core::codes;

/// The limits of one server process.
#[derive(Clone)]
pub struct Limits {
    permits: Arc<Semaphore>,
    pub max_in_flight: usize,
    pub request_timeout: Duration,
    /// Open connections at most; at the limit the server stops accepting
    /// until one closes (the kernel's backlog holds the rest).
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, and how long
    /// an idle keep-alive connection stays open; then it is closed (slow
    /// clients cannot hold connections).
    pub header_timeout: Duration,
}

impl Limits {
    pub fn new(max_in_flight: usize, request_timeout: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_in_flight.max(1))),
            max_in_flight: max_in_flight.max(1),
            request_timeout,
            max_connections: 1024,
            header_timeout: Duration::from_secs(20),
        }
    }

    /// Sets the connection limits.
    pub fn with_connections(mut self, max_connections: usize, header_timeout: Duration) -> Self {
        self.max_connections = max_connections.max(1);
        self.header_timeout = header_timeout;
        self
    }
}

impl Default for Limits {
    /// The defaults of the `max_in_flight`, `request_timeout_secs`,
    /// `max_connections` and `header_timeout_secs` settings.
    fn default() -> Self {
        Self::new(512, Duration::from_secs(30)).with_connections(1024, Duration::from_secs(20))
    }
}

pub async fn enforce(State(limits): State<Limits>, req: Request, next: Next) -> Response {
    if matches!(req.uri().path(), "/healthz" | "/readyz") {
        return next.run(req).await;
    }
    let Ok(_permit) = limits.permits.clone().try_acquire_owned() else {
        let mut resp = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::OVERLOADED,
            format!(
                "the server is at its limit of {} requests at once; try again shortly",
                limits.max_in_flight
            ),
        )
        .into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return resp;
    };
    match tokio::time::timeout(limits.request_timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            tracing::warn!(
                "a request ran past {:?} and was abandoned",
                limits.request_timeout
            );
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::REQUEST_TIMEOUT,
                format!(
                    "the request took longer than {} s",
                    limits.request_timeout.as_secs()
                ),
            )
            .into_response()
        }
    }
}
