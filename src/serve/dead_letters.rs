//! Where the sidecar puts what it cannot deliver: a file (appended and synced before
//! the request is answered) or a URL (posted to, and required to answer 2xx).

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Uri};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;

/// A dead-letter destination.
pub enum DeadLetters {
    /// Append NDJSON lines to a file.
    File {
        /// The file.
        path: PathBuf,
        /// Serializes writers.
        lock: Arc<Mutex<()>>,
    },
    /// Post NDJSON to a URL.
    Url {
        /// The URL.
        uri: Uri,
        /// The client.
        client: Client<HttpConnector, Full<Bytes>>,
    },
}

impl DeadLetters {
    /// A destination from a path or an `http://` URL.
    pub fn parse(target: &str) -> Result<DeadLetters, String> {
        if target.starts_with("http://") || target.starts_with("https://") {
            let uri: Uri = target.parse().map_err(|e| format!("dead-letter URL `{target}`: {e}"))?;
            if uri.scheme_str() != Some("http") {
                return Err(format!("dead-letter URL `{target}` must be http://"));
            }
            return Ok(DeadLetters::Url { uri, client: Client::builder(TokioExecutor::new()).build_http() });
        }
        Ok(DeadLetters::File { path: PathBuf::from(target), lock: Arc::new(Mutex::new(())) })
    }

    /// Where the dead letters go, for messages.
    pub fn describe(&self) -> String {
        match self {
            DeadLetters::File { path, .. } => path.display().to_string(),
            DeadLetters::Url { uri, .. } => uri.to_string(),
        }
    }

    /// Stores `lines` (NDJSON, each ending in a newline) durably, or says why not.
    pub async fn store(&self, lines: Vec<u8>) -> Result<(), String> {
        if lines.is_empty() {
            return Ok(());
        }
        match self {
            DeadLetters::File { path, lock } => {
                let (path, lock) = (path.clone(), lock.clone());
                // On a blocking thread: waiting for the lock and the fsync never holds
                // up the async workers. One writer at a time keeps lines whole, and a
                // failed write is cut back off so the next one starts on a fresh line.
                let write = move || -> std::io::Result<()> {
                    let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
                    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
                    let before = file.metadata()?.len();
                    let written = file.write_all(&lines).and_then(|()| file.sync_data());
                    if written.is_err() {
                        let _ = file.set_len(before);
                    }
                    written
                };
                tokio::task::spawn_blocking(write)
                    .await
                    .map_err(|e| format!("writing dead letters to {}: {e}", self.describe()))?
                    .map_err(|e| format!("writing dead letters to {}: {e}", self.describe()))
            }
            DeadLetters::Url { uri, client } => {
                let request = Request::post(uri.clone())
                    .header("content-type", "application/x-ndjson")
                    .body(Full::new(Bytes::from(lines)))
                    .map_err(|e| e.to_string())?;
                let response = tokio::time::timeout(std::time::Duration::from_secs(30), client.request(request))
                    .await
                    .map_err(|_| format!("dead-letter URL {uri} did not answer within 30 s"))?
                    .map_err(|e| format!("dead-letter URL {uri} unreachable: {e}"))?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("dead-letter URL {uri} answered {}", response.status()))
                }
            }
        }
    }
}
