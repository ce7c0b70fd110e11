//! The REST API of reference §9 and the Prometheus endpoint of §7, plus `/healthz` and
//! `/readyz`. JSON answers use pktvisor's `text/json` content type and its error bodies
//! `{"error": "…"}`; admin routes (POST/DELETE) exist only with `--admin-api`. Every request
//! is logged `REQUEST: <method> <path> <status>`.
//!
//! Handlers run on the bounded blocking pool. Reads take the registry lock only to copy a
//! `RegistryView` (stream handles, definitions); asking the workers for snapshots and
//! encoding them, however large the window, happens after the lock is released, so
//! `/readyz` and other requests never wait on it. Admin writes hold the lock while they
//! change the registry. With an admin token (`auth`), every write route needs it; every
//! request marks its connection busy for the server's connection tracking (`server`).
//! `/metrics` also carries the agent's self-metrics: inputs, every bounded table (with what
//! its bound refused), the HTTP server and the OTLP exporter.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use serde_json::{Map, Value, json};

use crate::agent::Agent;
use crate::agent::info::{policies_info, policy_info, tap_info, taps_info};
use crate::agent::registry::{AgentError, Registry, RegistryView};
use crate::config::visor::parse_document;
use crate::export::json::{to_string, write_snapshot};
use crate::export::prometheus::PromWriter;
use crate::processor::Select;
use crate::service::pipeline::NamedSnapshot;

type Shared = Arc<Agent>;

fn body(status: StatusCode, content_type: &'static str, text: String) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], text).into_response()
}

fn json_resp(status: StatusCode, v: &Value) -> Response {
    body(status, "text/json", to_string(v))
}

fn error(status: u16, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if code.is_server_error() {
        tracing::error!("{message}");
    }
    json_resp(code, &json!({ "error": message }))
}

fn not_found() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

/// pktvisor's `{name}` pattern: `[a-zA-Z_][a-zA-Z0-9_-]*`.
fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn period_n(n: &str) -> Option<usize> {
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// Runs `f` on the registry off the async threads.
async fn with_registry<T: Send + 'static>(
    agent: &Shared,
    f: impl FnOnce(&mut Registry) -> T + Send + 'static,
) -> Result<T, AgentError> {
    let agent = agent.clone();
    tokio::task::spawn_blocking(move || f(&mut agent.registry()))
        .await
        .map_err(|e| AgentError {
            status: 500,
            message: e.to_string(),
        })
}

/// Runs `f` on a view of the registry, off the async threads; the lock is held only while
/// the view is copied.
async fn with_view<T: Send + 'static>(
    agent: &Shared,
    f: impl FnOnce(&RegistryView) -> T + Send + 'static,
) -> Result<T, AgentError> {
    let agent = agent.clone();
    tokio::task::spawn_blocking(move || {
        let view = agent.registry().view();
        let out = f(&view);
        drop(view);
        crate::agent::server::release_free_memory();
        out
    })
    .await
    .map_err(|e| AgentError {
        status: 500,
        message: e.to_string(),
    })
}

fn failure(e: AgentError) -> Response {
    error(e.status, &e.message)
}

async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    tracing::info!("REQUEST: {method} {path} {}", resp.status().as_u16());
    resp
}

/// Builds the router.
pub fn router(agent: Shared) -> Router {
    let nf = || async { not_found() };
    let mut policies = get(list_policies).fallback(nf);
    let mut taps = get(list_taps).fallback(nf);
    let mut policy = get(get_policy).fallback(nf);
    let mut tap = get(get_tap).fallback(nf);
    let mut r = Router::new();
    if agent.settings.admin_api {
        policies = policies.post(create_policy);
        taps = taps.post(create_tap);
        policy = policy.delete(delete_policy);
        tap = tap.delete(delete_tap);
        r = r.route("/api/v1/server", delete(stop_server));
    }
    let token = agent.admin_token().cloned();
    r.route("/api/v1/metrics/app", get(app))
        .route("/api/v1/metrics/rates", get(rates))
        .route("/api/v1/metrics/{kind}/{n}", get(legacy_metrics))
        .route("/metrics", get(prometheus_default))
        .route("/api/v1/taps", taps)
        .route("/api/v1/taps/{name}", tap)
        .route("/api/v1/policies", policies)
        .route("/api/v1/policies/{name}", policy)
        .route(
            "/api/v1/policies/{name}/metrics/prometheus",
            get(policy_prometheus),
        )
        .route(
            "/api/v1/policies/{name}/metrics/{kind}/{n}",
            get(policy_metrics),
        )
        .route(
            "/healthz",
            get(|| async { body(StatusCode::OK, "text/plain", "ok\n".into()) }),
        )
        .route("/readyz", get(readyz))
        .route_layer(middleware::from_fn_with_state(
            token,
            crate::agent::auth::require_token,
        ))
        .fallback(|| async { not_found() })
        .layer(middleware::from_fn(crate::agent::server::track_request))
        .layer(middleware::from_fn(log_request))
        .with_state(agent)
}

async fn app(State(a): State<Shared>) -> Response {
    json_resp(
        StatusCode::OK,
        &json!({"app": {"up_time_min": a.uptime_minutes(), "version": env!("CARGO_PKG_VERSION")}}),
    )
}

async fn rates() -> Response {
    json_resp(
        StatusCode::OK,
        &json!({"packets": {"in": 0, "out": 0},
            "warning": "deprecated: use 'live' data from /api/v1/metrics/bucket/0 instead"}),
    )
}

async fn readyz(State(a): State<Shared>) -> Response {
    let (ready, streams) = tokio::task::spawn_blocking(move || a.ready())
        .await
        .unwrap_or((false, Vec::new()));
    let list: Vec<Value> = streams
        .into_iter()
        .map(|(name, ok, err)| json!({"input": name, "running": ok, "error": err}))
        .collect();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_resp(status, &json!({"ready": ready, "inputs": list}))
}

fn select(kind: &str, n: &str) -> Option<Select> {
    let n = period_n(n)?;
    match kind {
        "bucket" => Some(Select::Bucket(n)),
        "window" => Some(Select::Window(n)),
        _ => None,
    }
}

/// `{"<handler>": {"<schema>": …}}` of a list of snapshots.
fn handlers_json(list: &[NamedSnapshot], into: &mut Map<String, Value>) {
    for (name, snap) in list {
        let mut m = Map::new();
        write_snapshot(snap.as_ref(), &mut m);
        if !m.is_empty() {
            into.insert(name.clone(), Value::Object(m));
        }
    }
}

async fn legacy_metrics(
    State(a): State<Shared>,
    Path((kind, n)): Path<(String, String)>,
) -> Response {
    let Some(sel) = select(&kind, &n) else {
        return not_found();
    };
    let res = with_view(&a, move |reg| {
        if reg.api_policy("default").is_none() {
            return Err(AgentError::not_found("no \"default\" policy exists"));
        }
        let mut out = Map::new();
        let mut first_period = None;
        for p in reg.snapshots(Some("default"), sel) {
            let list = p.snapshots.map_err(|e| AgentError {
                status: 500,
                message: e.to_string(),
            })?;
            for (_, snap) in &list {
                let mut m = Map::new();
                write_snapshot(snap.as_ref(), &mut m);
                if first_period.is_none() {
                    first_period = m.values().next().and_then(|v| v.get("period")).cloned();
                }
                out.extend(m);
            }
        }
        let key = match sel {
            Select::Bucket(_) => {
                if let Some(p) = first_period {
                    out.insert("period".into(), p);
                }
                "1m".to_string()
            }
            Select::Window(n) => format!("{n}m"),
        };
        // encoded here, so the tree is freed before the view's memory is given back
        Ok(to_string(&json!({ key: Value::Object(out) })))
    })
    .await;
    match res {
        Ok(Ok(text)) => body(StatusCode::OK, "text/json", text),
        Ok(Err(e)) | Err(e) => failure(e),
    }
}

async fn policy_metrics(
    State(a): State<Shared>,
    Path((name, kind, n)): Path<(String, String, String)>,
) -> Response {
    let Some(sel) = select(&kind, &n) else {
        return not_found();
    };
    if !valid_name(&name) {
        return not_found();
    }
    let res = with_view(&a, move |reg| {
        let all = name == "__all";
        if !all && reg.api_policy(&name).is_none() {
            return Err(AgentError::not_found("policy does not exist"));
        }
        let mut out = Map::new();
        for p in reg.snapshots((!all).then_some(name.as_str()), sel) {
            match p.snapshots {
                Ok(list) => {
                    let entry = out
                        .entry(p.policy.clone())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(m) = entry {
                        handlers_json(&list, m);
                    }
                }
                Err(e) if !all => {
                    return Err(AgentError {
                        status: 425,
                        message: e.to_string(),
                    });
                }
                Err(_) => {}
            }
        }
        if !all && out.is_empty() {
            out.insert(name.clone(), Value::Object(Map::new()));
        }
        Ok(to_string(&Value::Object(out)))
    })
    .await;
    match res {
        Ok(Ok(text)) => body(StatusCode::OK, "text/json", text),
        Ok(Err(e)) | Err(e) => failure(e),
    }
}

/// Bucket 1 (the last complete minute) when it exists, else the live bucket 0.
fn prometheus_snapshots(
    reg: &RegistryView,
    policy: Option<&str>,
) -> Vec<crate::service::stream::PolicySnapshots> {
    let complete = reg.snapshots(policy, Select::Bucket(1));
    if !complete.is_empty() && complete.iter().all(|p| p.snapshots.is_ok()) {
        return complete;
    }
    reg.snapshots(policy, Select::Bucket(0))
}

/// Agent self-metrics: packets, queue depth, restarts and state per input stream, every
/// bounded table (entries, bound, what the bound refused), the HTTP server and the OTLP
/// exporter.
fn self_metrics(
    reg: &RegistryView,
    otlp: Option<crate::otlp::ExportStats>,
    http: crate::agent::server::HttpStatsSnapshot,
    w: &mut PromWriter,
) {
    if let Some(e) = otlp {
        for (name, help, v) in [
            (
                "pktvisord_otlp_points_sent",
                "OTLP data points accepted by the receiver",
                e.points_sent,
            ),
            (
                "pktvisord_otlp_points_failed",
                "OTLP data points given up on",
                e.points_failed,
            ),
            (
                "pktvisord_otlp_points_retried",
                "OTLP data points sent again after a retryable error",
                e.points_retried,
            ),
            (
                "pktvisord_otlp_points_dropped",
                "OTLP data points dropped because the queue was full",
                e.points_dropped,
            ),
            (
                "pktvisord_otlp_points_rejected",
                "OTLP data points the receiver rejected (partial success)",
                e.points_rejected,
            ),
            (
                "pktvisord_otlp_queue_depth",
                "OTLP batches waiting to be sent",
                e.queue_depth,
            ),
        ] {
            w.gauge(name, help, &[], v);
        }
    }
    for (name, help, v) in [
        (
            "pktvisord_http_connections_open",
            "HTTP connections open",
            http.open,
        ),
        (
            "pktvisord_http_connections_limit",
            "HTTP connections open at most (below the open-file limit)",
            http.limit,
        ),
        (
            "pktvisord_http_connections_accepted",
            "HTTP connections accepted",
            http.accepted,
        ),
        (
            "pktvisord_http_connections_evicted",
            "HTTP connections closed to make room (not busy, waiting longest)",
            http.evicted,
        ),
        (
            "pktvisord_http_connections_refused",
            "HTTP connections refused because every open one was busy",
            http.refused,
        ),
        (
            "pktvisord_http_header_timeouts",
            "HTTP connections closed because a request head did not arrive in time",
            http.header_timeouts,
        ),
        (
            "pktvisord_http_idle_timeouts",
            "HTTP keep-alive connections closed after waiting too long for a request",
            http.idle_timeouts,
        ),
    ] {
        w.gauge(name, help, &[], v);
    }
    for (input, tap, policy, handler, t) in reg.tables() {
        let labels = [
            ("input", input.as_str()),
            ("tap", tap.as_str()),
            ("policy", policy.as_str()),
            ("handler", handler.as_str()),
            ("table", t.name),
        ];
        w.gauge(
            "pktvisord_table_entries",
            "Entries (or bytes, for tables named *_bytes) a bounded table holds",
            &labels,
            t.len as u64,
        );
        w.gauge(
            "pktvisord_table_limit",
            "The bound of a bounded table",
            &labels,
            t.limit as u64,
        );
        w.gauge(
            "pktvisord_table_refused",
            "Entries a bounded table refused or evicted because of its bound",
            &labels,
            t.evicted,
        );
    }
    for s in &reg.streams {
        let st = &s.status;
        let labels = [("input", s.name.as_str()), ("tap", s.tap.as_str())];
        w.gauge(
            "pktvisord_input_packets",
            "Frames or messages received by the input stream",
            &labels,
            st.packets.load(Ordering::Relaxed),
        );
        w.gauge(
            "pktvisord_input_queue_depth",
            "Batches waiting between the input's receiver and its worker",
            &labels,
            st.queue_depth.load(Ordering::Relaxed),
        );
        w.gauge(
            "pktvisord_input_restarts",
            "Times the input's receiver was reopened after a failure",
            &labels,
            st.restarts.load(Ordering::Relaxed),
        );
        w.gauge(
            "pktvisord_input_running",
            "1 while the input's receiver is running",
            &labels,
            u64::from(st.running.load(Ordering::SeqCst)),
        );
    }
}

async fn prometheus_default(State(a): State<Shared>) -> Response {
    let instance = a.settings.prom_instance.clone();
    let otlp = a.otlp_stats();
    let http = a.http_stats().snapshot();
    let res = with_view(&a, move |reg| {
        reg.api_policy("default")?;
        let mut w = PromWriter::new(instance.as_deref());
        for p in prometheus_snapshots(reg, Some("default")) {
            if let Ok(list) = p.snapshots {
                for (_, snap) in &list {
                    w.write_snapshot(
                        snap.as_ref(),
                        &[("policy", "default"), ("tap", p.tap.as_str())],
                    );
                }
            }
        }
        self_metrics(reg, otlp, http, &mut w);
        Some(w.finish())
    })
    .await;
    match res {
        Ok(Some(text)) => body(StatusCode::OK, "text/plain; version=0.0.4", text),
        Ok(None) => body(StatusCode::NOT_FOUND, "text/plain", String::new()),
        Err(e) => failure(e),
    }
}

async fn policy_prometheus(State(a): State<Shared>, Path(name): Path<String>) -> Response {
    if !valid_name(&name) {
        return not_found();
    }
    let instance = a.settings.prom_instance.clone();
    let otlp = a.otlp_stats();
    let http = a.http_stats().snapshot();
    let res = with_view(&a, move |reg| {
        let all = name == "__all";
        if !all && reg.api_policy(&name).is_none() {
            return None;
        }
        let mut w = PromWriter::new(instance.as_deref());
        for p in prometheus_snapshots(reg, (!all).then_some(name.as_str())) {
            if let Ok(list) = p.snapshots {
                for (handler, snap) in &list {
                    w.write_snapshot(
                        snap.as_ref(),
                        &[
                            ("policy", p.policy.as_str()),
                            ("handler", handler.as_str()),
                            ("tap", p.tap.as_str()),
                        ],
                    );
                }
            }
        }
        if all {
            self_metrics(reg, otlp, http, &mut w);
        }
        Some(w.finish())
    })
    .await;
    match res {
        Ok(Some(text)) => body(StatusCode::OK, "text/plain; version=0.0.4", text),
        Ok(None) => body(
            StatusCode::NOT_FOUND,
            "text/plain",
            "policy does not exists".into(),
        ),
        Err(e) => failure(e),
    }
}

async fn list_taps(State(a): State<Shared>) -> Response {
    match with_view(&a, taps_info).await {
        Ok(v) => json_resp(StatusCode::OK, &v),
        Err(e) => failure(e),
    }
}

async fn get_tap(State(a): State<Shared>, Path(name): Path<String>) -> Response {
    if !valid_name(&name) {
        return not_found();
    }
    let res = with_view(&a, move |reg| {
        reg.taps
            .iter()
            .find(|t| t.name == name)
            .map(|t| json!({ t.name.clone(): tap_info(t) }))
    })
    .await;
    match res {
        Ok(Some(v)) => json_resp(StatusCode::OK, &v),
        Ok(None) => error(404, "tap does not exists"),
        Err(e) => failure(e),
    }
}

async fn list_policies(State(a): State<Shared>) -> Response {
    match with_view(&a, |reg| to_string(&policies_info(reg))).await {
        Ok(text) => body(StatusCode::OK, "text/json", text),
        Err(e) => failure(e),
    }
}

async fn get_policy(State(a): State<Shared>, Path(name): Path<String>) -> Response {
    if !valid_name(&name) {
        return not_found();
    }
    let res = with_view(&a, move |reg| {
        reg.api_policy(&name)
            .map(|p| json!({ p.name.clone(): policy_info(reg, p) }))
    })
    .await;
    match res {
        Ok(Some(v)) => json_resp(StatusCode::OK, &v),
        Ok(None) => error(404, "policy does not exists"),
        Err(e) => failure(e),
    }
}

/// The Content-Type checks of the admin POST routes.
fn check_content_type(h: &HeaderMap) -> Result<(), AgentError> {
    let bad = |m: &str| AgentError {
        status: 400,
        message: m.into(),
    };
    let Some(ct) = h.get(header::CONTENT_TYPE) else {
        return Err(bad("must include Content-Type header"));
    };
    let ct = ct.to_str().unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/x-yaml")
        || mime.eq_ignore_ascii_case("application/json")
    {
        Ok(())
    } else {
        Err(bad("Content-Type not supported"))
    }
}

fn body_text(b: &Bytes) -> Result<String, AgentError> {
    String::from_utf8(b.to_vec())
        .map_err(|_| AgentError::create("invalid schema: body is not UTF-8"))
}

async fn create_tap(State(a): State<Shared>, headers: HeaderMap, b: Bytes) -> Response {
    if let Err(e) = check_content_type(&headers) {
        return failure(e);
    }
    let res = with_registry(&a, move |reg| {
        let doc = parse_document(&body_text(&b)?).map_err(|e| AgentError::create(e.0))?;
        match doc.taps.len() {
            0 => return Err(AgentError::create("no taps found in schema")),
            1 => {}
            n => {
                return Err(AgentError::create(format!(
                    "only a single tap expected but got {n}"
                )));
            }
        }
        let tap = doc
            .taps
            .into_iter()
            .next()
            .ok_or_else(|| AgentError::create("no taps found in schema"))?;
        reg.add_tap(tap.clone())?;
        Ok(json!({ tap.name.clone(): tap_info(&tap) }))
    })
    .await;
    match res {
        Ok(Ok(v)) => json_resp(StatusCode::CREATED, &v),
        Ok(Err(e)) => error(e.status, &e.message),
        Err(e) => failure(e),
    }
}

async fn create_policy(State(a): State<Shared>, headers: HeaderMap, b: Bytes) -> Response {
    if let Err(e) = check_content_type(&headers) {
        return failure(e);
    }
    let res = with_registry(&a, move |reg| {
        let doc = parse_document(&body_text(&b)?).map_err(|e| AgentError::create(e.0))?;
        match doc.policies.len() {
            0 => return Err(AgentError::create("no policies found in schema")),
            1 => {}
            n => {
                return Err(AgentError::create(format!(
                    "only a single policy expected but got {n}"
                )));
            }
        }
        let def = doc
            .policies
            .into_iter()
            .next()
            .ok_or_else(|| AgentError::create("no policies found in schema"))?;
        let name = def.name.clone();
        reg.add_policy(def)?;
        let view = reg.view();
        let entry = view
            .api_policy(&name)
            .ok_or_else(|| AgentError::create("policy vanished"))?;
        Ok(json!({ name.clone(): policy_info(&view, entry) }))
    })
    .await;
    match res {
        Ok(Ok(v)) => json_resp(StatusCode::CREATED, &v),
        Ok(Err(e)) => error(e.status, &e.message),
        Err(e) => failure(e),
    }
}

async fn delete_tap(State(a): State<Shared>, Path(name): Path<String>) -> Response {
    if !valid_name(&name) {
        return not_found();
    }
    match with_registry(&a, move |reg| reg.remove_tap(&name)).await {
        Ok(Ok(())) => json_resp(StatusCode::OK, &json!({})),
        Ok(Err(e)) => error(e.status, &e.message),
        Err(e) => failure(e),
    }
}

async fn delete_policy(State(a): State<Shared>, Path(name): Path<String>) -> Response {
    if !valid_name(&name) {
        return not_found();
    }
    match with_registry(&a, move |reg| reg.remove_policy(&name)).await {
        Ok(Ok(())) => json_resp(StatusCode::OK, &json!({})),
        Ok(Err(e)) => error(e.status, &e.message),
        Err(e) => failure(e),
    }
}

async fn stop_server(State(a): State<Shared>, method: Method) -> Response {
    tracing::info!("{method} /api/v1/server: stopping");
    a.shutdown.cancel();
    json_resp(StatusCode::OK, &json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_periods_follow_pktvisor_patterns() {
        assert!(valid_name("default"));
        assert!(valid_name("__all"));
        assert!(valid_name("a-b_c9"));
        assert!(!valid_name("9a"));
        assert!(!valid_name("a.b"));
        assert!(!valid_name(""));
        assert_eq!(period_n("12"), Some(12));
        assert_eq!(period_n("-1"), None);
        assert_eq!(period_n("x"), None);
    }
}
