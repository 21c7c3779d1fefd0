//! Changing rules safely from the sidecar: `GET /admin/shadow` (what the shadow
//! candidate does differently), `POST /admin/promote` (make it live) and
//! `POST /admin/explain` (what the live rules do to the event in the body).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::explain::explain as explain_event;
use crate::shadow::PromoteError;

/// `GET /admin/shadow`: the comparison so far, or 404 without a candidate.
pub async fn shadow(State(state): State<Arc<AppState>>) -> Response {
    match &state.shadow {
        Some(shadow) => Json(shadow.report()).into_response(),
        None => no_shadow(),
    }
}

/// `POST /admin/promote`: checks the candidate (its pipeline's tests), prepares it and
/// publishes it as the live version; shadowing stops.
pub async fn promote(State(state): State<Arc<AppState>>) -> Response {
    let Some(shadow) = state.shadow.clone() else {
        return no_shadow();
    };
    let previous = state.live.current().id.to_string();
    let job = state.clone();
    let workers = state.options.max_in_flight;
    let promoted = tokio::task::spawn_blocking(move || shadow.promote(&job.live, workers)).await;
    match promoted {
        Ok(Ok(version)) => {
            log::info!("rules version {version} is live (promoted from shadow; was {previous})");
            Json(json!({"outcome": "promoted", "version": version, "previous": previous})).into_response()
        }
        Ok(Err(e @ PromoteError::NoCandidate(_))) => {
            (StatusCode::CONFLICT, Json(json!({"outcome": "refused", "reason": e.to_string()}))).into_response()
        }
        Ok(Err(e)) => (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"outcome": "refused", "reason": e.to_string()})))
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": format!("promoting failed: {e}")})))
            .into_response(),
    }
}

/// `POST /admin/explain[?show_values=true]`: the live version's story of the event in
/// the body (one JSON object), stage by stage.
pub async fn explain(State(state): State<Arc<AppState>>, uri: Uri, body: Bytes) -> Response {
    let show_values =
        uri.query().unwrap_or_default().split('&').any(|pair| pair == "show_values=true" || pair == "show_values=1");
    let pipeline = state.live.current();
    match tokio::task::spawn_blocking(move || explain_event(&pipeline, &body, show_values)).await {
        Ok(explanation) => Json(explanation).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": format!("explaining failed: {e}")})))
            .into_response(),
    }
}

fn no_shadow() -> Response {
    (StatusCode::CONFLICT, Json(json!({"error": "no shadow candidate: start with `firehose serve --shadow FILE`"})))
        .into_response()
}
