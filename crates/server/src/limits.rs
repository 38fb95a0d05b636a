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

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

/// The limits as a tower layer over a whole router: `ServiceBuilder::new()
/// .layer(limits.layer())`. Its future is its own type (no box, no task):
/// the access check passes it on every request.
impl Limits {
    pub fn layer(&self) -> EnforceLayer {
        EnforceLayer(self.clone())
    }
}

#[derive(Clone)]
pub struct EnforceLayer(Limits);

impl<S> tower::Layer<S> for EnforceLayer {
    type Service = Enforce<S>;

    fn layer(&self, inner: S) -> Enforce<S> {
        Enforce {
            inner,
            limits: self.0.clone(),
        }
    }
}

/// See [`EnforceLayer`].
#[derive(Clone)]
pub struct Enforce<S> {
    inner: S,
    limits: Limits,
}

impl<S> tower::Service<Request> for Enforce<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Enforced<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // Health checks are never refused and never time out.
        if matches!(req.uri().path(), "/healthz" | "/readyz") {
            return Enforced::Free {
                inner: self.inner.call(req),
            };
        }
        let Ok(permit) = self.limits.permits.clone().try_acquire_owned() else {
            return Enforced::Refused {
                response: Some(overloaded(self.limits.max_in_flight)),
            };
        };
        Enforced::Limited {
            inner: self.inner.call(req),
            deadline: tokio::time::sleep(self.limits.request_timeout),
            timeout: self.limits.request_timeout,
            _permit: permit,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Enforce`]: the request under its permit and deadline.
    #[project = EnforcedProj]
    pub enum Enforced<F> {
        Free { #[pin] inner: F },
        Refused { response: Option<Response> },
        Limited {
            #[pin] inner: F,
            #[pin] deadline: tokio::time::Sleep,
            timeout: Duration,
            _permit: OwnedSemaphorePermit,
        },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Enforced<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            EnforcedProj::Free { inner } => inner.poll(cx),
            EnforcedProj::Refused { response } => Poll::Ready(Ok(response
                .take()
                .expect("an Enforced future is not polled after it is ready"))),
            EnforcedProj::Limited {
                inner,
                deadline,
                timeout,
                ..
            } => {
                if let Poll::Ready(done) = inner.poll(cx) {
                    return Poll::Ready(done);
                }
                if deadline.poll(cx).is_ready() {
                    tracing::warn!("a request ran past {timeout:?} and was abandoned");
                    return Poll::Ready(Ok(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        codes::REQUEST_TIMEOUT,
                        format!("the request took longer than {} s", timeout.as_secs()),
                    )
                    .into_response()));
                }
                Poll::Pending
            }
        }
    }
}

fn overloaded(max_in_flight: usize) -> Response {
    let mut resp = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        codes::OVERLOADED,
        format!("the server is at its limit of {max_in_flight} requests at once; try again shortly"),
    )
    .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}
