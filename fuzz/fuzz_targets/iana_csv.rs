//! Fuzz target: any bytes as an IANA service-name registry CSV (header columns anywhere,
//! BOM, port ranges, flexible rows), then names looked up for ports taken from the input.
//! Nothing may panic or grow memory past the RSS limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pktvisor::enrich::{ServiceRegistry, Transport};

fuzz_target!(|data: &[u8]| {
    let Ok(reg) = ServiceRegistry::from_reader(data) else {
        return;
    };
    for c in data.chunks(2).take(256) {
        let port = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        let _ = reg.name(port, Transport::Tcp);
        let _ = reg.name(port, Transport::Udp);
    }
    let _ = (reg.len(), reg.skipped_rows());
});
