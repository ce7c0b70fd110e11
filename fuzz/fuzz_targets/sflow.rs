//! Fuzz target: any bytes as a sequence of sFlow datagrams (each prefixed by a 2-byte
//! length) through `FlowDecoder` (sampled headers through the packet decoder) and the flow
//! processor with every group on; plus the datagram view walked directly. Nothing may
//! panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod flow_common;

fuzz_target!(|data: &[u8]| {
    flow_common::run(data, pktvisor::receiver::flow::FlowType::Sflow);
    if let Ok(d) = pktvisor::wire::sflow::SflowDatagram::new_checked(data) {
        for s in d.samples().flatten() {
            if let pktvisor::wire::sflow::Sample::Flow(f) = s {
                let _ = f.records().count();
            }
        }
    }
});
