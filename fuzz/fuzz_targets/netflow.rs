//! Fuzz target: any bytes as a sequence of NetFlow/IPFIX datagrams (each prefixed by a
//! 2-byte length, the first byte of a datagram's prefix high bit choosing one of two
//! exporters) through `FlowDecoder` (template caches carried across datagrams, tiny bounds
//! so eviction and expiry run) and the flow processor with every group on, summarization
//! and filters; plus the stateless views on the raw bytes. Nothing may panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod flow_common;

fuzz_target!(|data: &[u8]| {
    flow_common::run(data, pktvisor::receiver::flow::FlowType::Netflow);
    let _ = pktvisor::wire::netflow::fixed::FixedDatagram::new_checked(data)
        .map(|d| d.records().count());
    if let Ok((h, area)) = pktvisor::wire::netflow::v9_header(data) {
        for s in pktvisor::wire::netflow::sets(area, h.version).flatten() {
            for options in [false, true] {
                for t in
                    pktvisor::wire::netflow::template::templates(s.body, h.version == 10, options)
                        .flatten()
                {
                    let _ = pktvisor::wire::netflow::data::records(s.body, &t).count();
                }
            }
        }
    }
});
