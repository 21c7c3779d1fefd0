//! `firehose serve`: the HTTP sidecar that puts Firehose into a Vector pipeline.
//!
//! Vector's `http` sink posts batches here; each is decoded, run through the live
//! pipeline version and posted on to the downstream (Vector's `http_server` source),
//! and the original request is answered only after the downstream has:
//!
//! | downstream                          | answer to Vector | dead letters |
//! |-------------------------------------|------------------|--------------|
//! | 2xx                                 | 200              | malformed lines and rule rejections are written |
//! | unreachable, timeout, 5xx, 408, 429 | 503 (retry)      | nothing written: the retry will bring them again |
//! | other 4xx                           | 422 (no retry)   | the whole batch, with the downstream's answer |
//!
//! A body that cannot be decoded at all gets 400; an oversized one 413; when the
//! in-flight limit is reached the answer is 503 at once (backpressure, not memory).
//! If dead letters cannot be stored, the answer is 503: nothing is acknowledged that
//! is not safely somewhere. URLs and headers over their limits get 414 and 431, and
//! `/admin/*` needs the admin token when one is set (see [`access`]).

pub mod access;
mod admin;
mod dead_letters;
mod events;
mod forward;
pub mod partition;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde_json::json;
use tokio::sync::Semaphore;

pub use access::{AdminToken, TokenError};
pub use dead_letters::{BadTarget, DeadLetterError, DeadLetters};
pub use forward::{Delivery, Forwarder, NotPlainHttp, RetryReason};

use crate::emit::batches::{Template, TemplateError};
use crate::metrics::Metrics;

use crate::reload::{Live, ReloadOutcome, Watcher};
use crate::shadow::Shadow;

/// How the sidecar runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where processed batches go (`http://`).
    pub forward: hyper::Uri,
    /// Compress forwarded batches with gzip.
    pub forward_gzip: bool,
    /// Dead-letter file path or `http://` URL.
    pub dead_letters: String,
    /// Largest request body, as sent.
    pub max_body_bytes: usize,
    /// Largest request body once decompressed.
    pub max_decompressed_bytes: usize,
    /// Most batches in flight.
    pub max_in_flight: usize,
    /// How long to wait for the downstream.
    pub downstream_timeout: Duration,
    /// Forward one request per value of this template, with the value in the
    /// `X-Firehose-Partition` header (Vector in bytes mode).
    pub partition: Option<String>,
    /// The bearer token `/admin/*` requires; required to listen beyond loopback.
    pub admin_token: Option<AdminToken>,
    /// Longest URL (path and query) accepted; longer gets 414.
    pub max_url_bytes: usize,
    /// Most header bytes (names and values) accepted; more gets 431.
    pub max_header_bytes: usize,
}

/// Why the sidecar cannot start with its options.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The downstream URL cannot be used.
    #[error(transparent)]
    Forward(#[from] NotPlainHttp),
    /// The dead-letter target cannot be used.
    #[error(transparent)]
    DeadLetters(#[from] BadTarget),
    /// `serve.partition` is not a valid template.
    #[error("serve.partition")]
    Partition(#[from] TemplateError),
}

/// Shared by every request.
pub struct AppState {
    live: Arc<Live>,
    watcher: Option<Arc<Watcher>>,
    forwarder: Forwarder,
    dead_letters: DeadLetters,
    slots: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    partition: Option<Template>,
    options: ServeOptions,
    shutting_down: AtomicBool,
    shadow: Option<Arc<Shadow>>,
}

impl AppState {
    /// State for serving `live` with `options`; `watcher` enables `/admin/reload`.
    pub fn new(
        live: Arc<Live>,
        watcher: Option<Arc<Watcher>>,
        options: ServeOptions,
    ) -> Result<Arc<AppState>, SetupError> {
        Self::with_shadow(live, watcher, options, Arc::new(Metrics::new()), None)
    }

    /// Like [`AppState::new`], recording into `metrics` and offering every batch to
    /// `shadow`'s candidate (which `/admin/promote` makes live).
    pub fn with_shadow(
        live: Arc<Live>,
        watcher: Option<Arc<Watcher>>,
        options: ServeOptions,
        metrics: Arc<Metrics>,
        shadow: Option<Arc<Shadow>>,
    ) -> Result<Arc<AppState>, SetupError> {
        let forwarder = Forwarder::new(options.forward.clone(), options.forward_gzip, options.downstream_timeout)?;
        let dead_letters = DeadLetters::parse(&options.dead_letters)?;
        let partition = options.partition.as_deref().map(Template::parse).transpose()?;
        Ok(Arc::new(AppState {
            live,
            watcher,
            forwarder,
            dead_letters,
            slots: Arc::new(Semaphore::new(options.max_in_flight.max(1))),
            metrics,
            partition,
            options,
            shutting_down: AtomicBool::new(false),
            shadow,
        }))
    }
}

/// The sidecar's routes.
pub fn router(state: Arc<AppState>) -> Router {
    // Everything that changes state lives here, behind the admin token.
    let admin = Router::new()
        .route("/admin/reload", post(reload))
        .route("/admin/promote", post(admin::promote))
        .route("/admin/explain", post(admin::explain))
        .route("/admin/shadow", get(admin::shadow))
        .route_layer(middleware::from_fn_with_state(state.clone(), access::require_token));
    Router::new()
        .route("/", post(events::handle))
        .route("/v1/events", post(events::handle))
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .merge(admin)
        .layer(middleware::from_fn_with_state(state.clone(), access::limit_request))
        .with_state(state)
}

/// Serves on `listener` until `shutdown` completes, then finishes the requests in
/// flight (their batches are forwarded and answered) before returning.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let flag = state.clone();
    let shutdown = async move {
        shutdown.await;
        flag.shutting_down.store(true, Ordering::SeqCst);
        log::info!("shutting down: finishing the batches in flight");
    };
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}

/// The address a listener is bound to (for logs).
pub fn bound(listener: &tokio::net::TcpListener) -> String {
    listener.local_addr().map(|a: SocketAddr| a.to_string()).unwrap_or_default()
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.shutting_down.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else {
        (StatusCode::OK, format!("ready: rules version {}\n", state.live.current().id)).into_response()
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let text = state.metrics.render_live(&state.live);
    ([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response()
}

async fn reload(State(state): State<Arc<AppState>>) -> Response {
    let Some(watcher) = state.watcher.clone() else {
        return (StatusCode::CONFLICT, Json(json!({"error": "reloading needs `firehose serve --watch`"})))
            .into_response();
    };
    let outcome = tokio::task::spawn_blocking(move || watcher.reload_now()).await.ok().flatten();
    match outcome {
        Some(ReloadOutcome::Published { version }) => {
            Json(json!({"outcome": "published", "version": version})).into_response()
        }
        Some(ReloadOutcome::Unchanged) => {
            Json(json!({"outcome": "unchanged", "version": state.live.current().id.as_ref()})).into_response()
        }
        Some(ReloadOutcome::Refused { reason }) => {
            (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"outcome": "refused", "reason": reason}))).into_response()
        }
        None => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "the watcher is not running"}))).into_response(),
    }
}
