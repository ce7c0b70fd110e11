//! What one poll asks pktvisord and how it reads the answer, as pktvisor's CLI does: the server
//! version once per connection (warning on a major-version mismatch), the policy list now and
//! then, and `/api/v1/policies/<P>/metrics/window/<n>` with n starting at 5 and following a
//! 425's `invalid metrics period, specify [a, b]` to b. A lost agent, an unknown policy or a
//! bad answer becomes a `Status`, never an error that stops the UI.

use std::collections::HashMap;

use serde_json::Value;

use super::client::{Api, error_message};
use super::error::CliError;
use super::model::PolicyWindow;

/// The window pktvisor's CLI asks for first (minutes).
pub const FIRST_WINDOW: u32 = 5;
/// Polls between two refreshes of the policy list.
const POLICIES_EVERY: u64 = 10;

/// Where the conversation with the agent stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The agent never answered yet.
    Connecting {
        attempts: u32,
        reason: Option<String>,
    },
    /// The last poll got a window.
    Live,
    /// The agent answered before and does not now (restart, crash, network).
    Reconnecting { attempts: u32, reason: String },
    /// The agent answers 404 for this policy (not created yet, or deleted).
    PolicyMissing,
    /// Any other answer: HTTP error, unexpected JSON.
    ServerError(String),
}

/// The result of one poll, sent to the UI.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub policy: String,
    pub status: Status,
    /// The policy's window when `status` is `Live`.
    pub window: Option<PolicyWindow>,
    /// The window of the policy's input `…-resources` policy, when there is one.
    pub resources: Option<PolicyWindow>,
    pub server_version: Option<String>,
    pub version_warning: Option<String>,
    /// Every policy the agent reported last (sorted).
    pub policies: Vec<String>,
    /// The window size in use for `policy` (minutes).
    pub window_n: u32,
}

/// Poll state kept between polls.
#[derive(Debug, Default)]
pub struct Poller {
    window_n: HashMap<String, u32>,
    server_version: Option<String>,
    version_warning: Option<String>,
    ever_connected: bool,
    failures: u32,
    polls: u64,
    policies: Vec<String>,
    resources_of: HashMap<String, String>,
}

impl Poller {
    pub fn new() -> Poller {
        Poller::default()
    }

    /// One poll of `policy`.
    pub fn poll(&mut self, api: &dyn Api, policy: &str) -> Update {
        let result = self.try_poll(api, policy);
        let (status, window, resources) = match result {
            Ok((w, r)) => {
                self.failures = 0;
                self.ever_connected = true;
                (Status::Live, Some(w), r)
            }
            Err(e) if e.is_unreachable() => {
                self.failures += 1;
                // A restarted agent may be another version with other periods.
                self.server_version = None;
                self.window_n.clear();
                let reason = match &e {
                    CliError::Unreachable { reason, .. } => reason.clone(),
                    other => other.to_string(),
                };
                let status = if self.ever_connected {
                    Status::Reconnecting {
                        attempts: self.failures,
                        reason,
                    }
                } else {
                    Status::Connecting {
                        attempts: self.failures,
                        reason: Some(reason),
                    }
                };
                (status, None, None)
            }
            Err(CliError::Status { status: 404, .. }) => {
                self.ever_connected = true;
                self.failures = 0;
                (Status::PolicyMissing, None, None)
            }
            Err(e) => {
                self.ever_connected = true;
                self.failures = 0;
                (Status::ServerError(e.to_string()), None, None)
            }
        };
        Update {
            policy: policy.to_string(),
            status,
            window,
            resources,
            server_version: self.server_version.clone(),
            version_warning: self.version_warning.clone(),
            policies: self.policies.clone(),
            window_n: self.n(policy),
        }
    }

    fn n(&self, policy: &str) -> u32 {
        self.window_n.get(policy).copied().unwrap_or(FIRST_WINDOW)
    }

    fn try_poll(
        &mut self,
        api: &dyn Api,
        policy: &str,
    ) -> Result<(PolicyWindow, Option<PolicyWindow>), CliError> {
        if self.server_version.is_none() {
            self.fetch_version(api)?;
        }
        let stale = self.polls.is_multiple_of(POLICIES_EVERY);
        self.polls += 1;
        if stale || !self.policies.iter().any(|p| p == policy) {
            match self.fetch_policies(api) {
                Err(e) if e.is_unreachable() => return Err(e),
                _ => {}
            }
        }
        let w = self.fetch_window(api, policy)?;
        let window = PolicyWindow::from_json(policy, &w);
        let resources = match self.resources_of.get(policy).cloned() {
            Some(rp) if rp != policy => self
                .fetch_window(api, &rp)
                .ok()
                .map(|v| PolicyWindow::from_json(&rp, &v)),
            _ => None,
        };
        Ok((window, resources))
    }

    fn fetch_version(&mut self, api: &dyn Api) -> Result<(), CliError> {
        let path = "/api/v1/metrics/app";
        let v = api.get(path)?.json(path)?;
        let version = v
            .pointer("/app/version")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string();
        self.version_warning = version_warning(&version);
        self.server_version = Some(version);
        Ok(())
    }

    fn fetch_policies(&mut self, api: &dyn Api) -> Result<(), CliError> {
        let path = "/api/v1/policies";
        let v = api.get(path)?.json(path)?;
        let Some(obj) = v.as_object() else {
            return Ok(());
        };
        let mut names: Vec<String> = obj.keys().cloned().collect();
        names.sort();
        self.resources_of.clear();
        for (name, info) in obj {
            let inputs = info.get("input").and_then(Value::as_object);
            if let Some(res) = inputs
                .into_iter()
                .flat_map(|i| i.keys())
                .map(|input| format!("{input}-resources"))
                .find(|r| obj.contains_key(r))
            {
                self.resources_of.insert(name.clone(), res);
            }
        }
        self.policies = names;
        Ok(())
    }

    fn fetch_window(&mut self, api: &dyn Api, policy: &str) -> Result<Value, CliError> {
        let mut n = self.n(policy);
        let mut tries = 0;
        loop {
            let path = format!("/api/v1/policies/{policy}/metrics/window/{n}");
            let r = api.get(&path)?;
            tries += 1;
            if r.status == 425
                && tries < 3
                && let Some(max) = largest_valid_window(&error_message(&r.body))
                && max != n
            {
                n = max;
                self.window_n.insert(policy.to_string(), n);
                continue;
            }
            return r.json(&path);
        }
    }
}

/// `b` from pktvisor's `invalid metrics period, specify [a, b]`.
pub fn largest_valid_window(message: &str) -> Option<u32> {
    let rest = message
        .strip_prefix("invalid metrics period, specify [")?
        .strip_suffix(']')?;
    let (_, max) = rest.split_once(',')?;
    max.trim().parse().ok()
}

/// A warning when the server's major version is not this client's.
pub fn version_warning(server: &str) -> Option<String> {
    let major = |v: &str| {
        v.split('.')
            .next()
            .and_then(|m| m.trim().parse::<u32>().ok())
    };
    let mine = env!("CARGO_PKG_VERSION");
    match (major(server), major(mine)) {
        (Some(s), Some(c)) if s == c => None,
        (_, Some(c)) => Some(format!(
            "WARNING: this version of pktvisor-cli was written for pktvisord {c}.x (server: {server})"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_error_gives_the_largest_window() {
        assert_eq!(
            largest_valid_window("invalid metrics period, specify [2, 3]"),
            Some(3)
        );
        assert_eq!(
            largest_valid_window("invalid metrics period, specify [0, 9]"),
            Some(9)
        );
        assert_eq!(
            largest_valid_window(
                "requested metrics period has not yet accumulated, current range is [0, 1]"
            ),
            None
        );
    }

    #[test]
    fn major_version_mismatch_warns() {
        assert_eq!(version_warning("4.5.0"), None);
        assert_eq!(version_warning("4.2.1-develop"), None);
        assert!(version_warning("3.3.0").unwrap().contains("pktvisord 4.x"));
    }
}
