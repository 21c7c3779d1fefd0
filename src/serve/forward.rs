//! Posting a processed batch to the downstream (Vector's `http_server` source) and
//! classifying its answer: accepted, worth retrying, or refused for good.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, StatusCode, Uri};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;

/// How a downstream answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// 2xx: the batch is delivered.
    Accepted,
    /// Unreachable, timed out, 5xx, 408 or 429: the sender should retry the batch.
    Retry(String),
    /// Any other status: retrying will not help; the batch is dead-lettered.
    Refused {
        /// The status.
        status: u16,
        /// The start of its body.
        body: String,
    },
}

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
    pub fn new(uri: Uri, gzip: bool, timeout: Duration) -> Result<Forwarder, String> {
        if uri.scheme_str() != Some("http") {
            return Err(format!(
                "forward URL `{uri}` must be http:// (the sidecar talks to a Vector next to it; put TLS on the hop after Vector)"
            ));
        }
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build_http();
        Ok(Forwarder { client, uri, gzip, timeout })
    }

    /// The downstream URL.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// Posts `ndjson` and returns how the downstream answered.
    pub async fn post(&self, ndjson: Bytes) -> Delivery {
        let mut request = Request::post(self.uri.clone()).header("content-type", "application/x-ndjson");
        let body = if self.gzip {
            request = request.header("content-encoding", "gzip");
            match gzip(&ndjson) {
                Ok(compressed) => Bytes::from(compressed),
                Err(e) => return Delivery::Retry(format!("compressing the batch failed: {e}")),
            }
        } else {
            ndjson
        };
        let request = match request.body(Full::new(body)) {
            Ok(request) => request,
            Err(e) => return Delivery::Retry(format!("cannot build the request: {e}")),
        };
        let exchange = async {
            let response =
                self.client.request(request).await.map_err(|e| format!("downstream {} unreachable: {e}", self.uri))?;
            let status = response.status();
            // Keep only the start of an error body; drain it so the connection can be reused.
            let body =
                Limited::new(response.into_body(), 64 * 1024).collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            Ok::<_, String>((status, body))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Delivery::Retry(format!("downstream {} did not answer within {:?}", self.uri, self.timeout)),
            Ok(Err(e)) => Delivery::Retry(e),
            Ok(Ok((status, body))) => classify(status, &body),
        }
    }
}

fn classify(status: StatusCode, body: &[u8]) -> Delivery {
    let text = || String::from_utf8_lossy(&body[..body.len().min(500)]).trim().to_string();
    match status.as_u16() {
        200..=299 => Delivery::Accepted,
        408 | 429 | 500..=599 => Delivery::Retry(format!("downstream answered {status}: {}", text())),
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
        assert_eq!(classify(StatusCode::OK, b""), Delivery::Accepted);
        assert_eq!(classify(StatusCode::NO_CONTENT, b""), Delivery::Accepted);
        for retry in [408, 429, 500, 501, 503] {
            assert!(matches!(classify(StatusCode::from_u16(retry).unwrap(), b"x"), Delivery::Retry(_)), "{retry}");
        }
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, b" bad json "),
            Delivery::Refused { status: 400, body: "bad json".into() }
        );
    }

    #[test]
    fn only_plain_http_downstreams() {
        let https: Uri = "https://example.com/".parse().unwrap();
        let error = Forwarder::new(https, false, Duration::from_secs(1)).err().unwrap();
        assert!(error.contains("must be http://"), "{error}");
    }
}
