//! A scripted pktvisord for the UI tests: answers from `fixtures/cli/` (recorded from a real
//! agent by `fixtures/cli/record.sh`, or hand-made where the file says so), looked up by path.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pktvisor::cli::app::App;
use pktvisor::cli::client::{Api, Response};
use pktvisor::cli::error::CliError;
use pktvisor::cli::poll::Poller;

use crate::common::own_fixture;

/// A fixture file's text.
pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(own_fixture(&format!("cli/{name}")))
        .unwrap_or_else(|e| panic!("fixtures/cli/{name}: {e}"))
}

/// The recorded agent's input resources policy (its name has the input's hash).
pub fn resources_policy() -> String {
    let v: serde_json::Value = serde_json::from_str(&fixture("policies.json")).unwrap();
    v.as_object()
        .unwrap()
        .keys()
        .find(|k| k.starts_with("default-") && k.ends_with("-resources"))
        .expect("a default-…-resources policy in policies.json")
        .clone()
}

/// Answers by path; unknown paths get pktvisor's 404; `down` makes every request fail as a
/// refused connection would. Every path asked is logged.
pub struct FixtureApi {
    pub routes: HashMap<String, (u16, String)>,
    pub down: Mutex<bool>,
    pub asked: Mutex<Vec<String>>,
}

impl FixtureApi {
    /// The recorded agent: policies `default` (v1), `v2` (3 periods), `flows`, resources.
    pub fn recorded() -> FixtureApi {
        let mut routes = HashMap::new();
        let mut add = |path: &str, status: u16, file: &str| {
            routes.insert(path.to_string(), (status, fixture(file)));
        };
        add("/api/v1/metrics/app", 200, "app.json");
        add("/api/v1/policies", 200, "policies.json");
        add(
            "/api/v1/policies/default/metrics/window/5",
            200,
            "default-window-5.json",
        );
        add(
            "/api/v1/policies/v2/metrics/window/5",
            425,
            "v2-window-5-425.json",
        );
        add(
            "/api/v1/policies/v2/metrics/window/3",
            200,
            "v2-window-3.json",
        );
        add(
            "/api/v1/policies/flows/metrics/window/5",
            200,
            "flows-window-5.json",
        );
        add(
            "/api/v1/policies/nope/metrics/window/5",
            404,
            "nope-window-5-404.json",
        );
        add(
            &format!("/api/v1/policies/{}/metrics/window/5", resources_policy()),
            200,
            "resources-window-5.json",
        );
        FixtureApi {
            routes,
            down: Mutex::new(false),
            asked: Mutex::new(Vec::new()),
        }
    }

    /// Serves `body` for `path`.
    pub fn route(&mut self, path: &str, status: u16, body: String) {
        self.routes.insert(path.to_string(), (status, body));
    }

    pub fn set_down(&self, down: bool) {
        *self.down.lock().unwrap() = down;
    }
}

impl Api for FixtureApi {
    fn get(&self, path: &str) -> Result<Response, CliError> {
        self.asked.lock().unwrap().push(path.to_string());
        if *self.down.lock().unwrap() {
            return Err(CliError::Unreachable {
                url: self.base_url().into(),
                reason: "Connection refused (os error 111)".into(),
            });
        }
        let (status, body) = self
            .routes
            .get(path)
            .cloned()
            .unwrap_or((404, r#"{"error":"policy does not exist"}"#.into()));
        Ok(Response { status, body })
    }

    fn base_url(&self) -> &str {
        "http://127.0.0.1:10853"
    }
}

/// An app that polled `policy` `polls` times (one second apart) through `api`.
pub fn app_after_polls(api: &FixtureApi, policy: &str, polls: usize) -> App {
    let t0 = Instant::now();
    let mut app = App::new(api.base_url(), policy, Duration::from_secs(1), t0);
    let mut poller = Poller::new();
    for i in 0..polls {
        let at = t0 + Duration::from_secs(i as u64);
        app.apply(poller.poll(api, policy), at);
        app.now = at;
    }
    app
}

/// The screen as text, for assertion messages.
pub fn screen(lines: &[String]) -> String {
    lines.join("\n")
}
