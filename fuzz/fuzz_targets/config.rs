//! Fuzz target: any bytes as a configuration document, the way config files, admin API
//! bodies (`POST /api/v1/taps`, `/api/v1/policies`) and reloads take them: pktvisor's YAML
//! parsed and every policy resolved into typed plans (inputs, filters, handler configs,
//! resource claims), and the collector style compiled and resolved too. Nothing may panic,
//! hang or grow memory past the RSS limit (alias bombs, deep nesting, huge lists).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pktvisor::config::collector;
use pktvisor::config::value::ConfigMap;
use pktvisor::config::visor::{VisorDocument, check_module_name, parse_document, parse_yaml};
use pktvisor::service::plan::{PlanDefaults, resolve_document};

fn defaults() -> PlanDefaults {
    PlanDefaults {
        num_periods: 5,
        deep_sample_rate: 100,
        forced: ConfigMap::new(),
        socket_dirs: vec!["/run/pktvisor".into()],
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(doc) = parse_document(text) {
        for t in &doc.taps {
            let _ = check_module_name(&t.name);
        }
        let _ = resolve_document(&doc, &defaults());
    }
    let Ok(yaml) = serde_norway::from_str::<serde_norway::Value>(text) else {
        return;
    };
    if let serde_norway::Value::Mapping(root) = &yaml
        && collector::is_collector_style(root)
        && let Ok(compiled) = collector::compile(root)
    {
        let doc = VisorDocument {
            taps: compiled.taps,
            policies: compiled.policies,
            ..VisorDocument::default()
        };
        let _ = resolve_document(&doc, &defaults());
    }
    let _ = parse_yaml(&yaml);
});
