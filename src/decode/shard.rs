//! Which worker a frame belongs to when a stream is spread over several: a symmetric hash
//! of the frame's IP addresses, read straight from the headers (no full decode).
//!
//! Symmetric, so a query and its reply, and both directions of a TCP connection, land on
//! the same worker. Ports are left out on purpose: the later fragments of an IP datagram
//! carry no ports, and a UDP flow whose large messages are fragmented while its small
//! ones are not must still stay on one worker (a DNS query and its fragmented answer).
//! Frames that are not IP go to worker 0.

use crate::decode::{Network, link_layer};

/// The shard (0..`shards`) of a frame.
#[inline]
pub fn shard_of(linktype: u16, data: &[u8], shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    let h = flow_hash(linktype, data);
    // Multiply-shift: maps the hash evenly onto 0..shards without a division.
    ((u128::from(h) * shards as u128) >> 64) as usize
}

/// The symmetric address hash of a frame (0 when it carries no IP header, or when it is
/// DHCP: a DHCP exchange goes from 0.0.0.0 to broadcast and back from the server, so its
/// messages share no address pair, and all of it goes to worker 0).
pub fn flow_hash(linktype: u16, data: &[u8]) -> u64 {
    let (a, b, proto, l4): (&[u8], &[u8], u8, &[u8]) = match link_layer(linktype, data) {
        Ok((Network::V4(ip), _)) if ip.len() >= 20 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            (
                &ip[12..16],
                &ip[16..20],
                ip[9],
                ip.get(ihl..).unwrap_or(&[]),
            )
        }
        Ok((Network::V6(ip), _)) if ip.len() >= 40 => {
            (&ip[8..24], &ip[24..40], ip[6], ip.get(40..).unwrap_or(&[]))
        }
        _ => return 0,
    };
    if proto == 17 && l4.len() >= 4 {
        let port = |i: usize| u16::from_be_bytes([l4[i], l4[i + 1]]);
        if [port(0), port(2)]
            .iter()
            .any(|p| matches!(p, 67 | 68 | 546 | 547))
        {
            return 0;
        }
    }
    pair_hash(a, b)
}

/// The symmetric hash of two addresses (as their bytes). Two IPv4 or two IPv6 addresses
/// (every frame) are ordered as integers and mixed without a buffer; other lengths go
/// through xxh3.
#[inline]
pub fn pair_hash(a: &[u8], b: &[u8]) -> u64 {
    if let (Ok(a), Ok(b)) = (<[u8; 4]>::try_from(a), <[u8; 4]>::try_from(b)) {
        let (x, y) = (u32::from_be_bytes(a), u32::from_be_bytes(b));
        let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
        return mix64((u64::from(lo) << 32) | u64::from(hi));
    }
    if let (Ok(a), Ok(b)) = (<[u8; 16]>::try_from(a), <[u8; 16]>::try_from(b)) {
        let (x, y) = (u128::from_be_bytes(a), u128::from_be_bytes(b));
        let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
        let fold = |v: u128| (v >> 64) as u64 ^ (v as u64).rotate_left(29);
        return mix64(fold(lo) ^ mix64(fold(hi)));
    }
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 32];
    buf[..lo.len().min(16)].copy_from_slice(&lo[..lo.len().min(16)]);
    buf[16..16 + hi.len().min(16)].copy_from_slice(&hi[..hi.len().min(16)]);
    xxhash_rust::xxh3::xxh3_64(&buf)
}

/// A 64-bit finaliser (splitmix64's): every input bit moves about half the output bits,
/// so the shard, taken from the high bits, spreads evenly. A bijection, so chaining
/// `mix64(h ^ word)` over several words hashes them.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::linktype;

    /// An Ethernet/IPv4 frame between `s` and `d` with UDP ports.
    fn frame(s: [u8; 4], d: [u8; 4], sport: u16, dport: u16, frag: bool) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let mut ip = vec![0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0];
        if frag {
            ip[6] = 0x00;
            ip[7] = 0x10; // offset 16 bytes: a later fragment, no UDP header
        }
        ip.extend_from_slice(&s);
        ip.extend_from_slice(&d);
        f.extend_from_slice(&ip);
        if !frag {
            f.extend_from_slice(&sport.to_be_bytes());
            f.extend_from_slice(&dport.to_be_bytes());
            f.extend_from_slice(&[0, 8, 0, 0]);
        }
        f
    }

    #[test]
    fn both_directions_and_fragments_share_a_shard() {
        let q = frame([10, 0, 0, 1], [10, 0, 0, 53], 40000, 53, false);
        let r = frame([10, 0, 0, 53], [10, 0, 0, 1], 53, 40000, false);
        let fragment = frame([10, 0, 0, 53], [10, 0, 0, 1], 0, 0, true);
        let e = linktype::ETHERNET;
        assert_ne!(flow_hash(e, &q), 0);
        assert_eq!(flow_hash(e, &q), flow_hash(e, &r));
        assert_eq!(flow_hash(e, &q), flow_hash(e, &fragment));
        for n in 1..8 {
            assert!(shard_of(e, &q, n) < n);
            assert_eq!(shard_of(e, &q, n), shard_of(e, &r, n));
        }
        assert_eq!(flow_hash(e, &[0u8; 10]), 0, "not IP");
        let discover = frame([0, 0, 0, 0], [255, 255, 255, 255], 68, 67, false);
        let offer = frame([192, 0, 2, 1], [192, 0, 2, 77], 67, 68, false);
        assert_eq!(
            (flow_hash(e, &discover), flow_hash(e, &offer)),
            (0, 0),
            "DHCP"
        );
    }

    #[test]
    fn ipv6_pairs_are_symmetric_and_spread() {
        let mut counts = [0usize; 3];
        let server = [
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53,
        ];
        for i in 0..3000u32 {
            let mut client = [0u8; 16];
            client[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
            client[12..].copy_from_slice(&i.to_be_bytes());
            let h = pair_hash(&client, &server);
            assert_eq!(h, pair_hash(&server, &client));
            counts[((u128::from(h) * 3) >> 64) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&n| (800..1200).contains(&n)),
            "{counts:?}"
        );
        assert_eq!(
            pair_hash(&[1, 2], &[3]),
            pair_hash(&[3], &[1, 2]),
            "other lengths"
        );
    }

    #[test]
    fn many_address_pairs_spread_over_the_shards() {
        let mut counts = [0usize; 3];
        for i in 0..3000u32 {
            let c = i.to_be_bytes();
            let f = frame([10, c[1], c[2], c[3]], [192, 0, 2, 53], 1000, 53, false);
            counts[shard_of(linktype::ETHERNET, &f, 3)] += 1;
        }
        assert!(
            counts.iter().all(|&n| (800..1200).contains(&n)),
            "{counts:?}"
        );
    }
}
