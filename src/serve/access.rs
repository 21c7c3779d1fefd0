//! Who may change the sidecar's state, and how large a request may be.
//!
//! Anything that changes state (`POST /admin/…`) needs `Authorization: Bearer TOKEN`
//! when an admin token is set, and a sidecar listening on anything but loopback must
//! have one: it refuses to start otherwise. URLs and headers have limits of their own,
//! below hyper's, with clear 414 / 431 answers (bodies are limited where they are read).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::AppState;

/// Shortest admin token accepted: a guessable token is no lock.
pub const MIN_TOKEN_LEN: usize = 16;

/// The bearer token that guards the admin endpoints.
#[derive(Clone)]
pub struct AdminToken(Arc<[u8]>);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(…)")
    }
}

/// Why an admin token cannot be used, or is missing where it must be set.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token is too short to resist guessing.
    #[error("the admin token ({from}) is {len} characters; use at least {MIN_TOKEN_LEN} (e.g. `openssl rand -hex 32`)")]
    TooShort {
        /// Where the token came from.
        from: String,
        /// Its length.
        len: usize,
    },
    /// The token has characters a header value cannot carry.
    #[error("the admin token ({from}) must be visible ASCII without spaces")]
    NotPrintable {
        /// Where the token came from.
        from: String,
    },
    /// Listening beyond loopback without a token would open the admin endpoints to the network.
    #[error(
        "refusing to listen on {addr} without an admin token: `POST /admin/reload` would be open to the network. \
         Set FIREHOSE_ADMIN_TOKEN, pass --admin-token-file FILE or set serve.admin_token_file in the pipeline file \
         (or listen on 127.0.0.1)"
    )]
    Required {
        /// The non-loopback address.
        addr: SocketAddr,
    },
}

impl AdminToken {
    /// A token read from `from` (a file or variable name, for messages): surrounding
    /// whitespace is ignored.
    pub fn new(text: &str, from: &str) -> Result<AdminToken, TokenError> {
        let token = text.trim();
        if token.len() < MIN_TOKEN_LEN {
            return Err(TokenError::TooShort { from: from.to_string(), len: token.len() });
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::NotPrintable { from: from.to_string() });
        }
        Ok(AdminToken(Arc::from(token.as_bytes())))
    }

    /// Whether `headers` carry `Authorization: Bearer` with this token (compared in
    /// constant time, so the answer's timing tells nothing about the token).
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(header::AUTHORIZATION) else { return false };
        let value = value.as_bytes();
        let Some(given) = value.get(..7).filter(|s| s.eq_ignore_ascii_case(b"bearer ")).map(|_| &value[7..]) else {
            return false;
        };
        bool::from(given.ct_eq(&self.0))
    }
}

/// Refuses a listen address beyond loopback when no admin token is set.
pub fn check_exposure(addr: SocketAddr, token: Option<&AdminToken>) -> Result<(), TokenError> {
    if token.is_none() && !addr.ip().is_loopback() {
        return Err(TokenError::Required { addr });
    }
    Ok(())
}

/// Middleware of the admin routes: 401 without the token, when one is set.
pub async fn require_token(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if let Some(token) = &state.options.admin_token
        && !token.admits(request.headers())
    {
        let mut refused = (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "this endpoint needs `Authorization: Bearer TOKEN` with the sidecar's admin token"})),
        )
            .into_response();
        refused.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return refused;
    }
    next.run(request).await
}

/// Middleware of every route: 414 for a URL longer than `serve.max_url_bytes`, 431
/// for headers larger than `serve.max_header_bytes` in all.
pub async fn limit_request(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let options = &state.options;
    let url = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if url > options.max_url_bytes {
        return (
            StatusCode::URI_TOO_LONG,
            Json(json!({"error": format!("the URL is {url} bytes; at most {} are accepted", options.max_url_bytes)})),
        )
            .into_response();
    }
    let headers: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if headers > options.max_header_bytes {
        return (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Json(json!({"error": format!(
                "the headers are {headers} bytes in all; at most {} are accepted (serve.max_header_bytes)",
                options.max_header_bytes
            )})),
        )
            .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn admits_only_the_exact_token() {
        let token = AdminToken::new("  0123456789abcdef\n", "test").unwrap();
        assert!(token.admits(&bearer("Bearer 0123456789abcdef")));
        assert!(token.admits(&bearer("bearer 0123456789abcdef")));
        assert!(!token.admits(&bearer("Bearer 0123456789abcde")));
        assert!(!token.admits(&bearer("Bearer 0123456789abcdefg")));
        assert!(!token.admits(&bearer("Basic 0123456789abcdef")));
        assert!(!token.admits(&bearer("0123456789abcdef")));
        assert!(!token.admits(&HeaderMap::new()));
    }

    #[test]
    fn refuses_weak_tokens_and_open_listeners() {
        assert!(matches!(AdminToken::new("short", "x"), Err(TokenError::TooShort { len: 5, .. })));
        assert!(matches!(AdminToken::new("0123456789 abcdef", "x"), Err(TokenError::NotPrintable { .. })));
        let token = AdminToken::new("0123456789abcdef", "x").unwrap();
        let open: SocketAddr = "0.0.0.0:8787".parse().unwrap();
        let loopback: SocketAddr = "127.0.0.1:8787".parse().unwrap();
        let loopback6: SocketAddr = "[::1]:8787".parse().unwrap();
        assert!(check_exposure(loopback, None).is_ok());
        assert!(check_exposure(loopback6, None).is_ok());
        assert!(check_exposure(open, Some(&token)).is_ok());
        let refused = check_exposure(open, None).unwrap_err().to_string();
        assert!(refused.contains("FIREHOSE_ADMIN_TOKEN") && refused.contains("0.0.0.0:8787"), "{refused}");
    }
}
