//! Fuzz target: any bytes as a Frame Streams byte stream through the frame codec (in one
//! push and in pieces whose sizes come from the input: both must give the same frames), the
//! receiver handshake, the dnstap protobuf decoding and the mapping, and every dnstap
//! message through the dns (v1, v2) and net (v1, v2) processors; also the whole input as
//! one dnstap protobuf. Nothing may panic or hang.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pktvisor::config::value::{ConfigMap, ConfigValue};
use pktvisor::processor::{self, Processor, ProcessorContext};
use pktvisor::event::Event;
use pktvisor::receiver::dnstap::HostFilter;
use pktvisor::receiver::dnstap::fstrm::{DNSTAP_CONTENT_TYPE, Frame, FrameCodec};
use pktvisor::receiver::dnstap::DnstapEvent;
use pktvisor::receiver::dnstap::map::decode_frame;
use pktvisor::receiver::dnstap::session::{ReaderSession, Step};
use pktvisor::time::Timespec;
use tokio_util::codec::Decoder;

const MAX_FRAME: usize = 4096;

/// Frames of `pieces`, fed in order; stops at the first codec error.
fn frames<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> (Vec<Frame>, bool) {
    let mut codec = FrameCodec::new(MAX_FRAME);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for p in pieces {
        buf.extend_from_slice(p);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(f)) => out.push(f),
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

fn processors() -> Vec<Box<dyn Processor>> {
    let ctx = ProcessorContext::default();
    let mut v2 = ConfigMap::new();
    v2.set("dnstap_msg_type", ConfigValue::Str("client".into()));
    v2.set(
        "enable",
        ConfigValue::List(vec![
            "top_ports".into(),
            "top_size".into(),
            "xact_times".into(),
        ]),
    );
    [
        ("dns", "1.0", ConfigMap::new()),
        ("dns", "2.0", v2),
        ("net", "1.0", ConfigMap::new()),
        ("net", "2.0", ConfigMap::new()),
    ]
    .into_iter()
    .filter_map(|(t, v, c)| processor::build(t, v, &c, &ctx).ok())
    .collect()
}

fn feed(procs: &mut [Box<dyn Processor>], frame: bytes::Bytes, filter: &HostFilter) {
    let len = frame.len();
    let Ok(d) = decode_frame(frame) else { return };
    let Some(m) = d.message.as_ref() else { return };
    let Ok(ev) = DnstapEvent::from_message(m, len, Timespec::new(1_700_000_000, 0)) else {
        return;
    };
    let _ = filter.keep(&ev);
    for p in procs.iter_mut() {
        p.handle(&Event::Dnstap(&ev));
    }
}

fuzz_target!(|data: &[u8]| {
    let mut procs = processors();
    let filter = HostFilter::from_nets(vec![
        pktvisor::config::hostspec::IpNet::parse("10.0.0.0/8").expect("cidr"),
    ]);
    let (whole, whole_err) = frames(std::iter::once(data));
    let mut sizes = data.iter().cycle().map(|b| usize::from(*b) % 61 + 1);
    let mut rest = data;
    let pieces = std::iter::from_fn(|| {
        if rest.is_empty() {
            return None;
        }
        let n = sizes.next().unwrap_or(1).min(rest.len());
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    });
    let (split, split_err) = frames(pieces);
    assert_eq!(whole_err, split_err);
    assert_eq!(whole, split);
    let mut session = ReaderSession::new(DNSTAP_CONTENT_TYPE);
    for f in whole {
        match session.on_frame(f) {
            Ok(Step::Data(d)) => {
                assert!(d.len() <= MAX_FRAME);
                feed(&mut procs, d, &filter);
            }
            Ok(Step::Stopped { .. }) | Err(_) => break,
            Ok(_) => {}
        }
    }
    // the input as one dnstap protobuf
    feed(&mut procs, bytes::Bytes::copy_from_slice(data), &filter);
    for p in procs.iter_mut() {
        p.handle(&Event::End(Timespec::new(1_700_000_100, 0)));
        p.finish();
    }
});
