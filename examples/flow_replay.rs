//! Replays the UDP payloads of a flow-export capture to a collector over loopback as fast
//! as it can (for `benches/flow_burst.py`): the datagrams of the capture's N-th exporter
//! leave from 127.0.0.(N+1), so exporters stay apart. Prints one JSON object: datagrams
//! and bytes sent, send errors, seconds.
//!
//!   cargo run --release --example flow_replay -- CAPTURE [--to 127.0.0.1:2055] [--port P]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Instant;

use pktvisor::receiver::flow::file::read_udp_payloads;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let cap = args
        .get(1)
        .filter(|a| !a.starts_with("--"))
        .ok_or_else(|| anyhow::anyhow!("usage: flow_replay CAPTURE [--to ADDR:PORT]"))?;
    let to: SocketAddr = arg("--to").unwrap_or("127.0.0.1:2055".into()).parse()?;
    let port = arg("--port").map(|p| p.parse()).transpose()?;
    let payloads = read_udp_payloads(Path::new(cap), port)?;
    let mut sockets: HashMap<IpAddr, UdpSocket> = HashMap::new();
    for (src, _) in &payloads {
        if !sockets.contains_key(src) {
            let n = u8::try_from(sockets.len() + 1)?;
            let s = UdpSocket::bind(SocketAddr::new(Ipv4Addr::new(127, 0, 0, n).into(), 0))?;
            s.connect(to)?;
            sockets.insert(*src, s);
        }
    }
    let (mut sent, mut bytes, mut errors) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    for (src, p) in &payloads {
        match sockets.get(src).map(|s| s.send(p)) {
            Some(Ok(n)) => {
                sent += 1;
                bytes += n as u64;
            }
            _ => errors += 1,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "datagrams": sent, "bytes": bytes, "send_errors": errors, "seconds": secs,
            "exporters": sockets.len(),
        })
    );
    Ok(())
}
