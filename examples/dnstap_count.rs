//! A dnstap listener with a counting consumer, for benchmarks and manual checks: listens on
//! a unix socket or TCP address, counts the messages handed over (by message type), and on
//! exit prints one JSON line with the count, the listener's counters and the rate.
//!
//! ```text
//! cargo run --release --example dnstap_count -- --unix /tmp/dnstap.sock --idle-exit 2
//! fstrm_replay -t protobuf:dnstap.Dnstap -r FILE -u /tmp/dnstap.sock
//! ```
//! Exits on SIGINT/SIGTERM, after `--expect N` messages, or `--idle-exit S` seconds after
//! the last message (once at least one came); it first lets open sessions end (up to 5 s).
//! `--delay-us` slows the consumer per batch (to show backpressure); `--channel` sets the
//! bounded channel's capacity in batches.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::Parser;
use pktvisor::event::MsgType;
use pktvisor::receiver::dnstap::{DnstapListener, ListenerConfig, TcpSpec};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
struct Args {
    /// Unix socket path to listen on.
    #[arg(long)]
    unix: Option<String>,
    /// TCP `HOST:PORT` to listen on.
    #[arg(long)]
    tcp: Option<String>,
    /// Octal permissions of the unix socket.
    #[arg(long)]
    mode: Option<String>,
    /// Stop after this many messages.
    #[arg(long)]
    expect: Option<u64>,
    /// Stop this many seconds after the last message.
    #[arg(long)]
    idle_exit: Option<f64>,
    /// Channel capacity in batches.
    #[arg(long, default_value_t = 64)]
    channel: usize,
    /// Consumer delay per batch, microseconds.
    #[arg(long, default_value_t = 0)]
    delay_us: u64,
    /// Stall timeout, seconds.
    #[arg(long, default_value_t = 30.0)]
    stall_timeout: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut cfg = match (&args.unix, &args.tcp) {
        (Some(p), _) => ListenerConfig::unix(p),
        (None, Some(t)) => ListenerConfig::tcp(TcpSpec::parse(t).map_err(anyhow::Error::msg)?),
        (None, None) => anyhow::bail!("give --unix PATH or --tcp HOST:PORT"),
    };
    if let (Some(m), pktvisor::receiver::dnstap::ListenAddr::Unix { mode, .. }) =
        (&args.mode, &mut cfg.addr)
    {
        *mode = Some(u32::from_str_radix(m, 8)?);
    }
    cfg.stall_timeout = Duration::from_secs_f64(args.stall_timeout);
    let listener = DnstapListener::bind(cfg).await?;
    eprintln!("listening on {}", listener.local_addr());
    let stats = listener.stats();
    let (tx, mut rx) = mpsc::channel(args.channel.max(1));
    let stop = CancellationToken::new();
    let task = tokio::spawn(listener.run(tx, stop.clone()));
    let mut count = 0u64;
    let mut by_type: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut first: Option<Instant> = None;
    let mut last = Instant::now();
    let idle = args.idle_exit.map(Duration::from_secs_f64);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let wait = match (idle, first) {
            (Some(d), Some(_)) => d.saturating_sub(last.elapsed()),
            _ => Duration::from_secs(3600),
        };
        let batch = tokio::select! {
            b = rx.recv() => b,
            _ = tokio::time::sleep(wait) => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
        };
        let Some(batch) = batch else { break };
        first.get_or_insert_with(Instant::now);
        last = Instant::now();
        for f in &batch {
            count += 1;
            let t = f
                .message
                .message
                .as_ref()
                .and_then(|m| MsgType::from_code(m.r#type))
                .map_or("??", MsgType::mnemonic);
            *by_type.entry(t).or_default() += 1;
        }
        if args.delay_us > 0 {
            tokio::time::sleep(Duration::from_micros(args.delay_us)).await;
        }
        if args.expect.is_some_and(|e| count >= e) {
            break;
        }
    }
    let secs = first.map_or(0.0, |f| last.duration_since(f).as_secs_f64());
    // let senders finish their STOP/FINISH handshake before shutting down
    for _ in 0..50 {
        if stats.snapshot().connections_active == 0 {
            break;
        }
        while let Ok(batch) = rx.try_recv() {
            count += batch.len() as u64;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    // keep draining while connections hand over what they decoded
    let drain = async {
        while let Some(batch) = rx.recv().await {
            count += batch.len() as u64;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(3), drain).await;
    let final_stats = task.await.unwrap_or_else(|_| stats.snapshot());
    let out = serde_json::json!({
        "messages": count,
        "by_type": by_type,
        "seconds": secs,
        "rate": if secs > 0.0 { count as f64 / secs } else { 0.0 },
        "stats": final_stats,
    });
    println!("{out}");
    Ok(())
}
