//! Locking the admin API: an optional bearer token (`--admin-token-file FILE`, env
//! `PKTVISOR_ADMIN_TOKEN_FILE`, `visor.config.admin_token_file`) that every write route
//! (POST/PUT/PATCH/DELETE, so also `DELETE /api/v1/server`) must present as
//! `Authorization: Bearer <token>`, compared in constant time; anything else is answered
//! 401 `{"error": "unauthorized"}` with `WWW-Authenticate: Bearer`. Reads stay open, as in
//! pktvisor.
//!
//! The token file must be a regular file of at most 4 KiB; its text, trimmed, is the
//! token. A file others may read is warned about.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Why the token could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file could not be read (or is not a small regular file).
    #[error("admin token file {path}: {error}")]
    File {
        /// The file.
        path: String,
        /// Why.
        error: crate::files::FileError,
    },
    /// The file holds no token.
    #[error("admin token file {0}: empty")]
    Empty(String),
    /// The token holds characters a header value cannot.
    #[error("admin token file {0}: the token must be printable ASCII without spaces")]
    Invalid(String),
}

/// The admin API's bearer token.
#[derive(Clone)]
pub struct AdminToken(Arc<[u8]>);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl AdminToken {
    /// A token from its text.
    pub fn new(token: &str) -> AdminToken {
        AdminToken(Arc::from(token.as_bytes()))
    }

    /// Reads the token file.
    pub fn load(path: &Path) -> Result<AdminToken, TokenError> {
        let name = || path.display().to_string();
        let text = crate::files::read_regular_string(path, crate::files::MAX_TOKEN_BYTES).map_err(
            |error| TokenError::File {
                path: name(),
                error,
            },
        )?;
        let token = text.trim();
        if token.is_empty() {
            return Err(TokenError::Empty(name()));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::Invalid(name()));
        }
        if let Ok(m) = std::fs::metadata(path)
            && m.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                "admin token file {} can be read by other users (mode {:o}); chmod 600 it",
                name(),
                m.permissions().mode() & 0o777
            );
        }
        Ok(AdminToken::new(token))
    }

    /// Whether `given` is the token, in time that depends only on the token's length.
    pub fn matches(&self, given: &[u8]) -> bool {
        let want = &self.0;
        let mut diff = u8::from(given.len() != want.len());
        for (i, w) in want.iter().enumerate() {
            let g = given.get(i).copied().unwrap_or(!*w);
            diff |= w ^ g;
        }
        std::hint::black_box(diff) == 0
    }

    /// Whether a request's `Authorization` header carries the token.
    pub fn authorizes(&self, req: &Request) -> bool {
        let Some(v) = req.headers().get(header::AUTHORIZATION) else {
            return false;
        };
        let v = v.as_bytes();
        let scheme = b"bearer ";
        if v.len() < scheme.len() || !v[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return false;
        }
        self.matches(v[scheme.len()..].trim_ascii())
    }
}

/// Whether a method changes something (and so needs the token).
pub fn is_write(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Middleware: write requests without the token get 401.
pub async fn require_token(
    State(token): State<Option<AdminToken>>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(t) = &token
        && is_write(req.method())
        && !t.authorizes(&req)
    {
        tracing::warn!(
            "admin API: {} {} without a valid bearer token: 401",
            req.method(),
            req.uri().path()
        );
        return (
            StatusCode::UNAUTHORIZED,
            [
                (header::CONTENT_TYPE, "text/json"),
                (header::WWW_AUTHENTICATE, "Bearer"),
            ],
            r#"{"error":"unauthorized"}"#,
        )
            .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_whole_tokens_only() {
        let t = AdminToken::new("s3cret-token");
        assert!(t.matches(b"s3cret-token"));
        assert!(!t.matches(b"s3cret-toke"));
        assert!(!t.matches(b"s3cret-tokenX"));
        assert!(!t.matches(b""));
        assert!(!t.matches(b"S3cret-token"));
        let req = |v: &str| {
            Request::builder()
                .header(header::AUTHORIZATION, v)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        assert!(t.authorizes(&req("Bearer s3cret-token")));
        assert!(t.authorizes(&req("bearer  s3cret-token ")));
        assert!(!t.authorizes(&req("Basic s3cret-token")));
        assert!(!t.authorizes(&req("Bearer")));
        assert!(is_write(&Method::DELETE) && !is_write(&Method::GET));
    }

    #[test]
    fn token_files_are_small_regular_files_with_a_token() {
        let p = std::env::temp_dir().join(format!("pktvisor-token-{}", std::process::id()));
        std::fs::write(&p, "  abc123\n").unwrap();
        assert!(AdminToken::load(&p).unwrap().matches(b"abc123"));
        std::fs::write(&p, "\n").unwrap();
        assert!(matches!(AdminToken::load(&p), Err(TokenError::Empty(_))));
        std::fs::write(&p, "a b").unwrap();
        assert!(matches!(AdminToken::load(&p), Err(TokenError::Invalid(_))));
        assert!(AdminToken::load(Path::new("/dev/zero")).is_err());
        let _ = std::fs::remove_file(p);
    }
}
