//! Posting a processed batch to the downstream (Vector's `http_server` source) and
//! classifying its answer: accepted, worth retrying, or refused for good.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, StatusCode, Uri};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;

/// How a downstream answered.
#[derive(Debug)]
pub enum Delivery {
    /// 2xx: the batch is delivered.
    Accepted,
    /// Unreachable, timed out, 5xx, 408 or 429: the sender should retry the batch.
    Retry(RetryReason),
    /// Any other status: retrying will not help; the batch is dead-lettered.
    Refused {
        /// The status.
        status: u16,
        /// The start of its body.
        body: String,
    },
}

/// Why a batch was not delivered but may be on a retry.
#[derive(Debug, thiserror::Error)]
pub enum RetryReason {
    /// No connection, or the exchange broke off.
    #[error("downstream {uri} unreachable")]
    Unreachable {
        /// The downstream.
        uri: Uri,
        /// What the client said.
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// No answer within the timeout.
    #[error("downstream {uri} did not answer within {timeout:?}")]
    Timeout {
        /// The downstream.
        uri: Uri,
        /// How long it was given.
        timeout: Duration,
        /// The timer that ran out.
        #[source]
        source: tokio::time::error::Elapsed,
    },
    /// 5xx, 408 or 429.
    #[error("downstream answered {status}: {body}")]
    Status {
        /// The status.
        status: StatusCode,
        /// The start of its body.
        body: String,
    },
    /// The request could not be made.
    #[error("cannot build the request")]
    Request(#[source] hyper::http::Error),
    /// Compressing the batch failed.
    #[error("compressing the batch failed")]
    Compress(#[source] std::io::Error),
}

/// A downstream URL that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error(
    "forward URL `{0}` must be http:// (the sidecar talks to a Vector next to it; put TLS on the hop after Vector)"
)]
pub struct NotPlainHttp(pub Uri);

/// A client for one downstream URL.
#[derive(Clone)]
pub struct Forwarder {
    client: Client<HttpConnector, Full<Bytes>>,
    uri: Uri,
    gzip: bool,
    timeout: Duration,
}

impl Forwarder {
    /// A forwarder posting to `uri` (`http://` only) and waiting at most `timeout`.
    pub fn new(uri: Uri, gzip: bool, timeout: Duration) -> Result<Forwarder, NotPlainHttp> {
        if uri.scheme_str() != Some("http") {
            return Err(NotPlainHttp(uri));
        }
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build_http();
        Ok(Forwarder { client, uri, gzip, timeout })
    }

    /// The downstream URL.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// Posts `ndjson` (with the partition header, if given) and returns how the
    /// downstream answered.
    pub async fn post(&self, ndjson: Bytes, partition: Option<&str>) -> Delivery {
        let mut request = Request::post(self.uri.clone()).header("content-type", "application/x-ndjson");
        if let Some(value) = partition {
            request = request.header(super::partition::HEADER, value);
        }
        let body = if self.gzip {
            request = request.header("content-encoding", "gzip");
            match gzip(&ndjson) {
                Ok(compressed) => Bytes::from(compressed),
                Err(e) => return Delivery::Retry(RetryReason::Compress(e)),
            }
        } else {
            ndjson
        };
        let request = match request.body(Full::new(body)) {
            Ok(request) => request,
            Err(e) => return Delivery::Retry(RetryReason::Request(e)),
        };
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|source| RetryReason::Unreachable { uri: self.uri.clone(), source })?;
            let status = response.status();
            // Keep only the start of an error body; drain it so the connection can be reused.
            let body =
                Limited::new(response.into_body(), 64 * 1024).collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            Ok::<_, RetryReason>((status, body))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(source) => {
                Delivery::Retry(RetryReason::Timeout { uri: self.uri.clone(), timeout: self.timeout, source })
            }
            Ok(Err(e)) => Delivery::Retry(e),
            Ok(Ok((status, body))) => classify(status, &body),
        }
    }
}

fn classify(status: StatusCode, body: &[u8]) -> Delivery {
    let text = || String::from_utf8_lossy(&body[..body.len().min(500)]).trim().to_string();
    match status.as_u16() {
        200..=299 => Delivery::Accepted,
        408 | 429 | 500..=599 => Delivery::Retry(RetryReason::Status { status, body: text() }),
        other => Delivery::Refused { status: other, body: text() },
    }
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 4), flate2::Compression::fast());
    encoder.write_all(data)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_answers_like_vectors_http_sink_retries() {
        assert!(matches!(classify(StatusCode::OK, b""), Delivery::Accepted));
        assert!(matches!(classify(StatusCode::NO_CONTENT, b""), Delivery::Accepted));
        for retry in [408, 429, 500, 501, 503] {
            let delivery = classify(StatusCode::from_u16(retry).unwrap(), b"x");
            assert!(matches!(delivery, Delivery::Retry(RetryReason::Status { .. })), "{retry}");
        }
        let refused = classify(StatusCode::BAD_REQUEST, b" bad json ");
        assert!(matches!(refused, Delivery::Refused { status: 400, ref body } if body == "bad json"), "{refused:?}");
    }

    #[tokio::test]
    async fn a_silent_downstream_is_a_timeout_by_type() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri: Uri = format!("http://{}/", listener.local_addr().unwrap()).parse().unwrap();
        // Accepts the connection, reads nothing, never answers.
        let silent = tokio::spawn(async move {
            let (_socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let forwarder = Forwarder::new(uri, false, Duration::from_millis(100)).unwrap();
        let delivery = forwarder.post(Bytes::from_static(b"{}\n"), None).await;
        assert!(matches!(delivery, Delivery::Retry(RetryReason::Timeout { .. })), "{delivery:?}");
        silent.abort();
        // Nobody listening at all is not a timeout.
        let closed: Uri = "http://127.0.0.1:9/".parse().unwrap();
        let delivery = Forwarder::new(closed, false, Duration::from_secs(5)).unwrap().post(Bytes::new(), None).await;
        assert!(matches!(delivery, Delivery::Retry(RetryReason::Unreachable { .. })), "{delivery:?}");
    }

    #[test]
    fn only_plain_http_downstreams() {
        let https: Uri = "https://example.com/".parse().unwrap();
        let error = Forwarder::new(https, false, Duration::from_secs(1)).err().unwrap();
        assert!(error.to_string().contains("must be http://"), "{error}");
    }
}
