//! A flow collector for burst benchmarks (`benches/flow_burst.py`): a `FlowUdpListener` on
//! `--bind`:`--port` feeding a bounded queue, and a consumer thread that decodes every
//! batch and (unless `--no-aggregate`) counts it with the flow processor's default groups.
//! It exits once datagrams have stopped arriving for `--idle-ms` (after the first one), or
//! after `--max-secs`, and prints one JSON object: the listener's counters, the decoder's
//! totals and the records counted.
//!
//!   cargo run --release --example flow_listen -- --port 2055 [--flow-type netflow]
//!       [--bind 127.0.0.1] [--rcvbuf 33554432] [--queue 1024] [--idle-ms 2000]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use pktvisor::config::value::{ConfigMap, ConfigValue};
use pktvisor::event::Event;
use pktvisor::processor::{self, ProcessorContext};
use pktvisor::receiver::flow::udp::{FlowUdpListener, ListenOptions, decode_batch};
use pktvisor::receiver::flow::{FlowDecoder, FlowInput, FlowSource, FlowType};
use pktvisor::time::Timespec;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let num = |name: &str, default: u64| -> anyhow::Result<u64> {
        Ok(arg(&args, name)
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or(default))
    };
    let flow_type = FlowType::parse(&arg(&args, "--flow-type").unwrap_or("netflow".into()))
        .map_err(anyhow::Error::msg)?;
    let input = FlowInput {
        flow_type,
        flow_type_defaulted: false,
        source: FlowSource::Listen {
            bind: arg(&args, "--bind").unwrap_or("127.0.0.1".into()),
            port: u16::try_from(num("--port", 2055)?)?,
        },
    };
    let opts = ListenOptions {
        rcvbuf: usize::try_from(num("--rcvbuf", 32 << 20)?)?,
        poll: Duration::from_millis(20),
        ..ListenOptions::default()
    };
    let aggregate = !args.iter().any(|a| a == "--no-aggregate");
    let idle = Duration::from_millis(num("--idle-ms", 2000)?);
    let max = Duration::from_secs(num("--max-secs", 120)?);
    let listener = FlowUdpListener::bind_with(&input, opts)?;
    let stats = listener.stats();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = sync_channel(usize::try_from(num("--queue", 1024)?)?);
    let recv = listener.spawn(tx, Arc::clone(&stop))?;
    eprintln!("listening on {}", stats.snapshot().local);
    let records = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&records);
    let consumer = std::thread::spawn(move || -> anyhow::Result<serde_json::Value> {
        let mut cfg = ConfigMap::new();
        cfg.set("num_periods", ConfigValue::U64(1));
        let mut p = processor::build("flow", "1.0", &cfg, &ProcessorContext::default())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        p.handle(&Event::Start(Timespec::now()));
        let mut dec = FlowDecoder::new(flow_type);
        for batch in rx {
            decode_batch(&mut dec, &batch, |dg| {
                counted.fetch_add(dg.records.len() as u64, Ordering::Relaxed);
                if aggregate {
                    p.handle(&Event::Flow(dg));
                }
            });
        }
        let mut totals = serde_json::Map::new();
        for (ip, e) in dec.stats().iter() {
            totals.insert(
                ip.to_string(),
                serde_json::json!({
                    "datagrams": e.datagrams,
                    "dropped": e.dropped,
                    "records": e.records,
                    "decode_errors": e.total_errors(),
                }),
            );
        }
        Ok(serde_json::Value::Object(totals))
    });
    let start = Instant::now();
    let mut last = (0u64, Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let n = stats.snapshot().datagrams;
        if n != last.0 {
            last = (n, Instant::now());
        } else if n > 0 && last.1.elapsed() >= idle || start.elapsed() >= max {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    recv.join()
        .map_err(|_| anyhow::anyhow!("listener panicked"))??;
    let exporters = consumer
        .join()
        .map_err(|_| anyhow::anyhow!("consumer panicked"))??;
    let out = serde_json::json!({
        "listener": stats.snapshot(),
        "exporters": exporters,
        "records": records.load(Ordering::Relaxed),
        "seconds": last.1.duration_since(start).as_secs_f64(),
    });
    println!("{out}");
    Ok(())
}
