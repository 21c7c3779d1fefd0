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

use crate::emit::location::dead_letter_file_options;

/// Why dead letters could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// Writing or syncing the file failed.
    #[error("writing dead letters to {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The blocking writer could not run.
    #[error("writing dead letters to {path}: the writer task failed")]
    Task {
        /// The file.
        path: PathBuf,
        /// Why the task ended.
        #[source]
        source: tokio::task::JoinError,
    },
    /// The dead-letter URL could not be reached.
    #[error("dead-letter URL {uri} unreachable")]
    Unreachable {
        /// The URL.
        uri: Uri,
        /// What the client said.
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// The dead-letter URL did not answer in time.
    #[error("dead-letter URL {uri} did not answer within 30 s")]
    Timeout {
        /// The URL.
        uri: Uri,
    },
    /// The dead-letter URL answered something other than 2xx.
    #[error("dead-letter URL {uri} answered {status}")]
    Status {
        /// The URL.
        uri: Uri,
        /// Its answer.
        status: hyper::StatusCode,
    },
    /// The request could not be made.
    #[error("cannot build the dead-letter request")]
    Request(#[source] hyper::http::Error),
}

/// A dead-letter target that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BadTarget {
    /// Not a URL.
    #[error("dead-letter URL `{target}`")]
    Url {
        /// What was given.
        target: String,
        /// Why it is not a URL.
        #[source]
        source: hyper::http::uri::InvalidUri,
    },
    /// Not plain HTTP.
    #[error("dead-letter URL `{0}` must be http://")]
    NotPlainHttp(String),
}

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
    pub fn parse(target: &str) -> Result<DeadLetters, BadTarget> {
        if target.starts_with("http://") || target.starts_with("https://") {
            let uri: Uri = target.parse().map_err(|source| BadTarget::Url { target: target.to_string(), source })?;
            if uri.scheme_str() != Some("http") {
                return Err(BadTarget::NotPlainHttp(target.to_string()));
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
    pub async fn store(&self, lines: Vec<u8>) -> Result<(), DeadLetterError> {
        if lines.is_empty() {
            return Ok(());
        }
        match self {
            DeadLetters::File { path, lock } => {
                let (file_path, lock) = (path.clone(), lock.clone());
                // On a blocking thread: waiting for the lock and the fsync never holds
                // up the async workers. One writer at a time keeps lines whole, and a
                // failed write is cut back off so the next one starts on a fresh line.
                let write = move || -> std::io::Result<()> {
                    let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
                    let mut file = dead_letter_file_options().append(true).open(&file_path)?;
                    let before = file.metadata()?.len();
                    let written = file.write_all(&lines).and_then(|()| file.sync_data());
                    if written.is_err() {
                        let _ = file.set_len(before);
                    }
                    written
                };
                tokio::task::spawn_blocking(write)
                    .await
                    .map_err(|source| DeadLetterError::Task { path: path.clone(), source })?
                    .map_err(|source| DeadLetterError::Write { path: path.clone(), source })
            }
            DeadLetters::Url { uri, client } => {
                let request = Request::post(uri.clone())
                    .header("content-type", "application/x-ndjson")
                    .body(Full::new(Bytes::from(lines)))
                    .map_err(DeadLetterError::Request)?;
                let response = tokio::time::timeout(std::time::Duration::from_secs(30), client.request(request))
                    .await
                    .map_err(|_| DeadLetterError::Timeout { uri: uri.clone() })?
                    .map_err(|source| DeadLetterError::Unreachable { uri: uri.clone(), source })?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(DeadLetterError::Status { uri: uri.clone(), status: response.status() })
                }
            }
        }
    }
}
