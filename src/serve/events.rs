//! The events endpoint: decode, run, forward, then answer.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::json;

use super::forward::RetryReason;
use super::partition::{Group, PartitionSink};
use super::{AppState, Delivery};
use crate::Counts;
use crate::emit;
use crate::intake::{self, DecodeError, Intake};
use crate::pass::LivePass;

/// A batch after the pipeline, ready to forward.
struct Processed {
    /// Delivered events as NDJSON, one body per partition (one in all without
    /// `serve.partition`).
    groups: Vec<Group>,
    /// Dead-letter lines for malformed records, rule rejections and events without a
    /// partition.
    dead_letters: Vec<u8>,
    counts: Counts,
    version: Arc<str>,
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

/// Handles `POST /` and `POST /v1/events`.
pub async fn handle(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let response = process_request(&state, headers, body).await;
    state.metrics.request(response.status().as_u16());
    response
}

async fn process_request(state: &Arc<AppState>, headers: HeaderMap, body: Body) -> Response {
    let Ok(_slot) = state.slots.clone().try_acquire_owned() else {
        let mut busy = answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": format!("{} batches already in flight; retry later", state.options.max_in_flight)}),
        );
        busy.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return busy;
    };
    state.metrics.in_flight().inc();
    let _in_flight = scopeguard(state);

    let bytes = match Limited::new(body, state.options.max_body_bytes).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"error": format!("body larger than {} bytes; lower the sender's batch.max_bytes", state.options.max_body_bytes)}),
            );
        }
        Err(e) => return answer(StatusCode::BAD_REQUEST, json!({"error": format!("cannot read the body: {e}")})),
    };
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).map(str::to_string);
    let job = state.clone();
    let processed = match tokio::task::spawn_blocking(move || process(&job, encoding.as_deref(), &bytes)).await {
        Ok(Ok(processed)) => processed,
        Ok(Err((status, error))) => {
            // The sender does not retry these and its log shows only the status: say it here.
            log::warn!("refused a body with {status}: {error}");
            return answer(status, json!({"error": error}));
        }
        Err(e) => {
            return answer(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": format!("processing failed: {e}")}));
        }
    };
    // Dead letters first: if they cannot be stored the sender retries the whole batch,
    // and nothing has been delivered yet that a retry would deliver twice.
    if let Err(e) = state.dead_letters.store(processed.dead_letters).await {
        return dead_letters_failed(&e);
    }
    let mut counts = processed.counts;
    let mut refused = None;
    let mut delivered_so_far = 0;
    for group in processed.groups.into_iter().filter(|g| !g.body.is_empty()) {
        let events = group.lines.len() as u64;
        let output = Bytes::from(group.body);
        let started = Instant::now();
        let delivery = state.forwarder.post(output.clone(), group.partition.as_deref()).await;
        let seconds = started.elapsed().as_secs_f64();
        match delivery {
            Delivery::Accepted => {
                state.metrics.downstream(seconds, None);
                delivered_so_far += events;
            }
            Delivery::Retry(reason) => {
                let kind = match reason {
                    RetryReason::Timeout { .. } => "timeout",
                    _ => "retryable",
                };
                state.metrics.downstream(seconds, Some(kind));
                let reason = crate::error::report(&reason);
                if delivered_so_far > 0 {
                    // Earlier partitions of this batch are delivered; the retry sends them again.
                    state.metrics.delivered_before_retry(delivered_so_far);
                    log::warn!(
                        "{delivered_so_far} events of other partitions of this batch were delivered already; the retry delivers them again"
                    );
                }
                log::warn!("not delivered, asking the sender to retry: {reason}");
                return answer(StatusCode::SERVICE_UNAVAILABLE, json!({"error": reason, "retry": true}));
            }
            Delivery::Refused { status, body } => {
                state.metrics.downstream(seconds, Some("refused"));
                let reason = format!("downstream {} refused the batch with {status}: {body}", state.forwarder.uri());
                log::error!("{reason}; the batch goes to the dead letters ({})", state.dead_letters.describe());
                // One event per output line: intake makes every event a single line.
                let lines = output.split(|&b| b == b'\n').filter(|l| !l.is_empty());
                let mut dead_letters = Vec::new();
                for (line, event) in group.lines.iter().zip(lines) {
                    emit::dead_letter(*line, Some("downstream"), &reason, event, &mut dead_letters);
                }
                // Failing here, the retry re-sends a batch the downstream refuses: no duplicate.
                if let Err(e) = state.dead_letters.store(dead_letters).await {
                    return dead_letters_failed(&e);
                }
                counts.dead_lettered += events;
                counts.delivered -= events;
                refused = Some(reason);
            }
        }
    }
    state.metrics.events(&counts);
    let summary = json!({
        "events_in": counts.events_in,
        "delivered": counts.delivered,
        "dropped": counts.dropped,
        "dead_lettered": counts.dead_lettered,
        "rules_version": &*processed.version,
    });
    match refused {
        // Not retriable: the sender marks the batch failed, and it is in the dead letters.
        Some(reason) => answer(StatusCode::UNPROCESSABLE_ENTITY, json!({"error": reason, "summary": summary})),
        None => answer(StatusCode::OK, summary),
    }
}

/// Decodes and runs one body on the live version (on a blocking thread).
/// A body that cannot be decoded gets its status and reason.
fn process(state: &AppState, encoding: Option<&str>, body: &[u8]) -> Result<Processed, (StatusCode, String)> {
    let decoded = intake::decode(encoding, body, state.options.max_decompressed_bytes).map_err(|e| {
        let status = match e {
            DecodeError::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            DecodeError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            DecodeError::Corrupt(_) => StatusCode::BAD_REQUEST,
        };
        let advice = match e {
            DecodeError::TooLarge(_) => {
                "; lower the sender's batch.max_bytes or raise serve.max_decompressed_bytes in the pipeline file"
            }
            _ => "",
        };
        (status, format!("{e}{advice}"))
    })?;
    let mut intake = Intake::default();
    intake::any(&decoded, &mut intake);
    let passed =
        LivePass::new(&state.live).with_metrics(state.metrics.clone()).with_shadow(state.shadow.clone()).run(intake);
    let mut sink = PartitionSink::new(state.partition.as_ref());
    let Ok(counts) = passed.deliver(&mut sink);
    Ok(Processed { groups: sink.groups, dead_letters: sink.dead_letters, counts, version: passed.version().id.clone() })
}

/// The answer when dead letters cannot be stored: the sender retries the batch.
fn dead_letters_failed(error: &super::DeadLetterError) -> Response {
    let error = crate::error::report(error);
    log::error!("{error}; asking the sender to retry");
    answer(StatusCode::SERVICE_UNAVAILABLE, json!({"error": error, "retry": true}))
}

/// Decrements the in-flight gauge when the request ends, however it ends.
fn scopeguard(state: &Arc<AppState>) -> impl Drop + '_ {
    struct Guard<'a>(&'a AppState);
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            self.0.metrics.in_flight().dec();
        }
    }
    Guard(state)
}
