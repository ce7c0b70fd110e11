//! Fuzz target: any bytes as a `host_spec` (comma-separated CIDRs, pktvisor's errors), and
//! when it parses, directions of address pairs taken from the rest of the input. Nothing may
//! panic.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use pktvisor::config::hostspec::{HostSpec, IpNet};

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let (spec, rest) = data.split_at(split);
    let Ok(text) = std::str::from_utf8(spec) else {
        return;
    };
    for part in text.split(',') {
        let _ = IpNet::parse(part);
    }
    let Ok(h) = HostSpec::parse(text) else {
        return;
    };
    let mut addrs: Vec<IpAddr> = Vec::new();
    for c in rest.chunks(16) {
        if c.len() == 16 {
            let mut b = [0u8; 16];
            b.copy_from_slice(c);
            addrs.push(IpAddr::V6(Ipv6Addr::from(b)));
        } else if c.len() >= 4 {
            addrs.push(IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3])));
        }
    }
    for w in addrs.windows(2) {
        let _ = h.direction(&w[0], &w[1]);
    }
});
