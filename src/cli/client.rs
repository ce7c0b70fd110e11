//! The REST side: the `Api` trait the poller talks to (so tests can script the agent) and its
//! blocking HTTP implementation over reqwest + rustls (ring).

use std::time::Duration;

use serde_json::Value;

use super::error::CliError;

/// One HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    /// The body as JSON when the status is 200, else a `Status` error carrying pktvisor's
    /// `{"error": "…"}` message (or the raw body).
    pub fn json(&self, path: &str) -> Result<Value, CliError> {
        if self.status != 200 {
            return Err(CliError::Status {
                status: self.status,
                path: path.to_string(),
                message: error_message(&self.body),
            });
        }
        serde_json::from_str(&self.body).map_err(|e| CliError::Json {
            path: path.to_string(),
            reason: e.to_string(),
        })
    }
}

/// pktvisor's error body `{"error": "<message>"}`, or the body itself.
pub fn error_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| body.trim().chars().take(200).collect())
}

/// GET requests against one pktvisord.
pub trait Api: Send {
    /// `GET <base><path>`; `Err` only when there was no HTTP answer.
    fn get(&self, path: &str) -> Result<Response, CliError>;
    /// Where requests go, for the status line.
    fn base_url(&self) -> &str;
}

/// reqwest's blocking client (its own runtime thread), short timeouts so a dead agent shows
/// quickly.
pub struct HttpApi {
    client: reqwest::blocking::Client,
    base: String,
}

impl HttpApi {
    /// A client for `base` (`http(s)://host:port`); `noverify` accepts any certificate.
    pub fn new(base: &str, noverify: bool) -> Result<HttpApi, CliError> {
        // One crypto provider for the process (reqwest is built without one).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .danger_accept_invalid_certs(noverify)
            .user_agent(concat!("pktvisor-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Client(e.to_string()))?;
        Ok(HttpApi {
            client,
            base: base.trim_end_matches('/').to_string(),
        })
    }
}

impl Api for HttpApi {
    fn get(&self, path: &str) -> Result<Response, CliError> {
        let url = format!("{}{path}", self.base);
        let unreachable = |e: reqwest::Error| CliError::Unreachable {
            url: self.base.clone(),
            reason: root_cause(&e),
        };
        let r = self.client.get(&url).send().map_err(unreachable)?;
        let status = r.status().as_u16();
        let body = r.text().map_err(unreachable)?;
        Ok(Response { status, body })
    }

    fn base_url(&self) -> &str {
        &self.base
    }
}

/// The innermost error's text (reqwest's top-level message is just "error sending request").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_give_pktvisors_message() {
        let r = Response {
            status: 425,
            body: r#"{"error":"invalid metrics period, specify [2, 3]"}"#.into(),
        };
        match r.json("/x") {
            Err(CliError::Status {
                status, message, ..
            }) => {
                assert_eq!(status, 425);
                assert_eq!(message, "invalid metrics period, specify [2, 3]");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(error_message("plain text\n"), "plain text");
    }

    #[test]
    fn refused_connection_is_unreachable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let api = HttpApi::new(&format!("http://127.0.0.1:{port}"), false).unwrap();
        let e = api.get("/api/v1/metrics/app").unwrap_err();
        assert!(e.is_unreachable(), "{e}");
    }
}
