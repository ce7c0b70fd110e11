//! The `mock` packet source (pktvisor's `pcap_source: mock`): synthetic Ethernet/IPv4/UDP
//! DNS queries and responses every 100 ms between the host 192.168.0.1 and peers 10.0.0.x,
//! asking `<0-19>.pktvisor-mock.dev`. For tests and demos without a network.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::decode::linktype;
use crate::receiver::Receiver;
use crate::receiver::batch::Batch;
use crate::receiver::context::ReceiverContext;
use crate::time::Timespec;

/// Frames are produced this often.
pub const INTERVAL_MS: u64 = 100;

fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One Ethernet frame carrying a DNS message over UDP/IPv4.
fn frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, dns: &[u8]) -> Vec<u8> {
    let udp_len = 8 + dns.len();
    let ip_len = 20 + udp_len;
    let mut f = Vec::with_capacity(14 + ip_len);
    f.extend_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01]);
    f.extend_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x02]);
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(dns);
    f
}

fn dns_message(id: u16, response: bool, label: u8) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(if response {
        &[0x81, 0x80]
    } else {
        &[0x01, 0x00]
    });
    m.extend_from_slice(&[0, 1, 0, u8::from(response), 0, 0, 0, 0]);
    let first = label.to_string();
    for part in [first.as_str(), "pktvisor-mock", "dev"] {
        m.push(part.len() as u8);
        m.extend_from_slice(part.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&[0, 1, 0, 1]);
    if response {
        m.extend_from_slice(&[
            0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, label,
        ]);
    }
    m
}

/// The mock generator's state.
#[derive(Debug, Default)]
pub struct MockSource {
    seq: u32,
}

impl MockSource {
    /// Appends one query and its response at time `now`.
    pub fn fill(&mut self, batch: &mut Batch, now: Timespec) {
        self.seq = self.seq.wrapping_add(1);
        let label = (self.seq % 20) as u8;
        let peer = [10, 0, 0, 1 + (self.seq % 10) as u8];
        let host = [192, 168, 0, 1];
        let id = (self.seq & 0xffff) as u16;
        let sport = 30_000 + (self.seq % 1000) as u16;
        let q = frame(peer, host, sport, 53, &dns_message(id, false, label));
        let r = frame(host, peer, 53, sport, &dns_message(id, true, label));
        batch.push(now, linktype::ETHERNET, &q, q.len() as u32);
        batch.push(now, linktype::ETHERNET, &r, r.len() as u32);
    }
}

/// The mock receiver: a query and its response every `INTERVAL_MS`.
#[derive(Debug, Default)]
pub struct MockReceiver {
    source: MockSource,
}

impl Receiver for MockReceiver {
    fn run(mut self: Box<Self>, ctx: &ReceiverContext) -> Result<(), String> {
        ctx.status.running.store(true, Ordering::SeqCst);
        while !ctx.shutdown.is_triggered() {
            let mut batch = ctx.frame_batch();
            self.source.fill(&mut batch, Timespec::now());
            if !ctx.send_frames(&mut batch) {
                break;
            }
            ctx.shutdown.sleep(Duration::from_millis(INTERVAL_MS));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Decoder, L4};
    use crate::wire::dns::DnsMessage;

    #[test]
    fn mock_frames_decode_as_dns() {
        let mut b = Batch::default();
        MockSource::default().fill(&mut b, Timespec::new(1, 0));
        let mut dec = Decoder::new();
        let mut seen = 0;
        for (f, data) in b.iter() {
            let info = dec.decode(f.linktype, f.ts, data, f.origlen);
            assert_eq!(info.l4, L4::Udp);
            let m = DnsMessage::new_checked(info.payload).expect("dns");
            let q = m.first_question().expect("ok").expect("question");
            assert_eq!(q.name.to_lowercase_string().unwrap(), "1.pktvisor-mock.dev");
            seen += 1;
        }
        assert_eq!(seen, 2);
        assert_eq!(dec.stats().total_dropped(), 0);
    }
}
