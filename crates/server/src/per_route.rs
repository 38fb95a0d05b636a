//! The one layer on each route (it needs the matched route template): the
//! request's latency under its route, and for a change `after_changes` (the
//! audit log and the access view's refresh). A tower service with its own
//! future, so a read (the access check) passes it without a box or a copy
//! of the request; a change takes the async path in a box.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::response::Response;
use tower::ServiceExt;

use crate::{after_changes, metrics, AppState};

/// `Router::layer(per_route::Layer(state))`.
#[derive(Clone)]
pub(crate) struct Layer(pub(crate) AppState);

impl<S> tower::Layer<S> for Layer {
    type Service = PerRoute<S>;

    fn layer(&self, inner: S) -> PerRoute<S> {
        PerRoute {
            inner,
            state: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct PerRoute<S> {
    inner: S,
    state: AppState,
}

impl<S> tower::Service<Request> for PerRoute<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Timed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let labels = metrics::labels(&req);
        let start = Instant::now();
        if req.method().is_safe() {
            return Timed::Read {
                inner: self.inner.call(req),
                labels,
                start,
            };
        }
        // The service made ready goes with the request; this one keeps a clone.
        let spare = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, spare);
        let state = self.state.clone();
        Timed::Change {
            inner: Box::pin(async move {
                after_changes(&state, req, |req| async move {
                    match ready.oneshot(req).await {
                        Ok(response) => response,
                        Err(never) => match never {},
                    }
                })
                .await
            }),
            labels,
            start,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`PerRoute`]: the route's answer, timed.
    #[project = TimedProj]
    pub(crate) enum Timed<F> {
        Read {
            #[pin] inner: F,
            labels: (&'static str, &'static str),
            start: Instant,
        },
        Change {
            inner: Pin<Box<dyn Future<Output = Response> + Send>>,
            labels: (&'static str, &'static str),
            start: Instant,
        },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Timed<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (response, labels, start) = match self.project() {
            TimedProj::Read { inner, labels, start } => match inner.poll(cx) {
                Poll::Ready(Ok(response)) => (response, *labels, *start),
                Poll::Ready(Err(never)) => match never {},
                Poll::Pending => return Poll::Pending,
            },
            TimedProj::Change { inner, labels, start } => match inner.as_mut().poll(cx) {
                Poll::Ready(response) => (response, *labels, *start),
                Poll::Pending => return Poll::Pending,
            },
        };
        metrics::observe(labels, response.status(), start.elapsed());
        Poll::Ready(Ok(response))
    }
}
