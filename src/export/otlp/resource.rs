//! The OTLP Resource: who is reporting.
//!
//! This file owns how the resource attributes are found, lowest precedence first:
//! 1. built-ins: `service.name=pktvisor`, `service.version` (the crate version),
//!    `host.name` (the kernel host name), `service.instance.id` (the pod name in
//!    Kubernetes, else the host name — stable across restarts so Prometheus series survive);
//! 2. Kubernetes downward-API variables: `K8S_NODE_NAME` → `k8s.node.name`,
//!    `K8S_POD_NAME` → `k8s.pod.name`, `K8S_NAMESPACE_NAME` (or `K8S_NAMESPACE`,
//!    `POD_NAMESPACE`) → `k8s.namespace.name`, `K8S_POD_UID` → `k8s.pod.uid`;
//! 3. `visor.config.otlp.resource_attributes` (YAML map);
//! 4. `OTEL_RESOURCE_ATTRIBUTES` (`k=v,k2=v2`, values percent-decoded);
//! 5. `OTEL_SERVICE_NAME` (wins for `service.name`).

use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::encode::kv;

/// The Kubernetes downward-API variables read, with the attribute each sets.
pub const K8S_ENV: &[(&str, &str)] = &[
    ("K8S_NODE_NAME", "k8s.node.name"),
    ("K8S_POD_NAME", "k8s.pod.name"),
    ("K8S_NAMESPACE", "k8s.namespace.name"),
    ("POD_NAMESPACE", "k8s.namespace.name"),
    ("K8S_NAMESPACE_NAME", "k8s.namespace.name"),
    ("K8S_POD_UID", "k8s.pod.uid"),
];

/// Resource attributes in insertion order, later sets overriding earlier keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ResourceAttrs(pub Vec<(String, String)>);

impl ResourceAttrs {
    /// Sets `key` (replacing an earlier value).
    pub fn set(&mut self, key: &str, value: &str) {
        if let Some(e) = self.0.iter_mut().find(|(k, _)| k == key) {
            e.1 = value.to_string();
        } else {
            self.0.push((key.to_string(), value.to_string()));
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// As an OTLP resource.
    pub fn to_proto(&self) -> Resource {
        Resource {
            attributes: self.0.iter().map(|(k, v)| kv(k, v)).collect(),
            ..Default::default()
        }
    }

    /// Builds the attributes from the environment (`env`), the host name and the YAML map.
    pub fn detect(env: &dyn Fn(&str) -> Option<String>, yaml: &[(String, String)]) -> Self {
        let mut a = ResourceAttrs::default();
        a.set("service.name", "pktvisor");
        a.set("service.version", env!("CARGO_PKG_VERSION"));
        let host = host_name();
        if !host.is_empty() {
            a.set("host.name", &host);
            a.set("service.instance.id", &host);
        }
        for (var, key) in K8S_ENV {
            if let Some(v) = env(var).filter(|v| !v.is_empty()) {
                a.set(key, &v);
                if *key == "k8s.pod.name" {
                    a.set("service.instance.id", &v);
                }
            }
        }
        for (k, v) in yaml {
            a.set(k, v);
        }
        if let Some(list) = env("OTEL_RESOURCE_ATTRIBUTES") {
            for (k, v) in parse_attribute_list(&list) {
                a.set(&k, &v);
            }
        }
        if let Some(name) = env("OTEL_SERVICE_NAME").filter(|v| !v.is_empty()) {
            a.set("service.name", &name);
        }
        a
    }
}

/// Parses `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs separated by commas, values
/// percent-decoded; malformed pairs are skipped (as the OTel SDKs do).
pub fn parse_attribute_list(s: &str) -> Vec<(String, String)> {
    s.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (percent_decode(k), percent_decode(v.trim())))
        })
        .collect()
}

/// `%XX` decoding (invalid escapes are kept as written).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(h, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The kernel host name (empty when unknown).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The string value of a resource attribute in a proto resource.
pub fn attribute<'a>(r: &'a Resource, key: &str) -> Option<&'a str> {
    r.attributes.iter().find(|k| k.key == key).and_then(|k| {
        match k.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_decoding() {
        let env = |k: &str| -> Option<String> {
            match k {
                "K8S_NODE_NAME" => Some("node-1".into()),
                "K8S_POD_NAME" => Some("pktvisor-abc".into()),
                "K8S_NAMESPACE_NAME" => Some("monitoring".into()),
                "POD_NAMESPACE" => Some("older-name".into()),
                "OTEL_RESOURCE_ATTRIBUTES" => Some(
                    "deployment.environment.name=lab,service.name=x, team=net%2Cops,bad".into(),
                ),
                "OTEL_SERVICE_NAME" => Some("edge-visor".into()),
                _ => None,
            }
        };
        let a = ResourceAttrs::detect(&env, &[("site".into(), "ams".into())]);
        assert_eq!(a.get("service.name"), Some("edge-visor"));
        assert_eq!(a.get("k8s.node.name"), Some("node-1"));
        assert_eq!(a.get("k8s.namespace.name"), Some("monitoring"));
        assert_eq!(a.get("service.instance.id"), Some("pktvisor-abc"));
        assert_eq!(a.get("team"), Some("net,ops"));
        assert_eq!(a.get("site"), Some("ams"));
        assert_eq!(a.get("deployment.environment.name"), Some("lab"));
        assert_eq!(a.get("service.version"), Some(env!("CARGO_PKG_VERSION")));
        assert_eq!(a.get("bad"), None);
    }
}
