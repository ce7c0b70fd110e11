//! What the sflow and netflow fuzz targets share: splitting the input into datagrams and
//! running them through a flow decoder and a flow processor configured to use everything.

use std::net::{IpAddr, Ipv4Addr};

use pktvisor::config::value::{ConfigMap, ConfigValue};
use pktvisor::processor::{self, ProcessorContext, Select};
use pktvisor::event::Event;
use pktvisor::receiver::flow::{FlowDecoder, FlowType, TemplateLimits};
use pktvisor::time::Timespec;

fn config() -> ConfigMap {
    let mut c = ConfigMap::new();
    let list = |v: &[&str]| ConfigValue::List(v.iter().map(|s| s.to_string()).collect());
    c.set("num_periods", ConfigValue::U64(2));
    c.set("enable", list(&["all"]));
    c.set(
        "subnets_for_summarization",
        list(&["10.0.0.0/8", "0.0.0.0/16", "::/32"]),
    );
    c.set("exclude_ips_from_summarization", list(&["10.1.0.0/16"]));
    c.set("only_ports", list(&["0-1024", "2055"]));
    c.set("fold_dynamic_ports", ConfigValue::Bool(true));
    c
}

/// Splits `data` into length-prefixed datagrams and runs them.
pub fn run(data: &[u8], flow_type: FlowType) {
    let limits = TemplateLimits {
        max_domains: 2,
        max_templates: 4,
        timeout_secs: 30,
        max_exporter_bytes: 8 << 10,
        max_total_bytes: 12 << 10,
    };
    let mut dec = FlowDecoder::with_limits(flow_type, limits, 2);
    let ctx = ProcessorContext::default();
    let Ok(mut all) = processor::build("flow", "1.0", &config(), &ctx) else {
        return;
    };
    let Ok(mut plain) = processor::build("flow", "1.0", &ConfigMap::new(), &ctx) else {
        return;
    };
    let mut rest = data;
    let mut sec = 1_700_000_000i64;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0] & 0x7f, rest[1]]));
        let exporter = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1 + (rest[0] >> 7)));
        let end = (2 + len).min(rest.len());
        let dg = &rest[2..end];
        rest = &rest[end..];
        sec += 20;
        let ts = Timespec::new(sec, 0);
        if let Some(f) = dec.decode(exporter, dg, ts) {
            all.handle(&Event::Flow(&f));
            plain.handle(&Event::Flow(&f));
        }
    }
    for p in [&all, &plain] {
        if let Ok(s) = p.snapshot(Select::Bucket(0), Timespec::new(sec, 0)) {
            let _ = pktvisor::export::json::snapshot_value(s.as_ref());
        }
    }
}
