//! AF_PACKET fanout for a stream with several workers: every worker's ring joins one
//! fanout group, and a classic BPF program attached to the group picks the ring of each
//! frame from a symmetric hash of its IPv4 or IPv6 addresses (XOR of the words of both
//! addresses, folded, modulo the number of rings).
//!
//! The kernel's own `PACKET_FANOUT_HASH` includes ports, so the later fragments of a
//! datagram (which carry none) would go to another ring than its first one; hashing the
//! addresses alone keeps a query, its (possibly fragmented) answer and a TCP connection on
//! one worker, as the software router does. Frames that are not IP (or carry more than one
//! VLAN tag) go to ring 0.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};

/// `SOL_PACKET` option joining a fanout group.
pub const PACKET_FANOUT: libc::c_int = 18;
/// `SOL_PACKET` option giving the group its BPF program.
pub const PACKET_FANOUT_DATA: libc::c_int = 22;
/// Fanout mode: a classic BPF program returns the ring.
pub const PACKET_FANOUT_CBPF: u32 = 6;

/// One fanout group: its id and how many rings share it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fanout {
    /// Group id (unique in the process).
    pub group: u16,
    /// Rings in the group.
    pub rings: u32,
}

static NEXT_GROUP: AtomicU16 = AtomicU16::new(0);

impl Fanout {
    /// A new group of `rings` rings.
    pub fn new(rings: u32) -> Fanout {
        let base = (std::process::id() as u16).wrapping_mul(31);
        Fanout {
            group: base.wrapping_add(NEXT_GROUP.fetch_add(1, Ordering::Relaxed)),
            rings: rings.max(1),
        }
    }

    /// The `PACKET_FANOUT` option value: group id and mode.
    pub fn option(&self) -> u32 {
        u32::from(self.group) | (PACKET_FANOUT_CBPF << 16)
    }

    /// The program that picks a frame's ring.
    pub fn program(&self) -> Vec<libc::sock_filter> {
        program(self.rings)
    }
}

/// Classic BPF opcodes used below.
mod op {
    pub const LDH_ABS: u16 = 0x28;
    pub const LD_ABS: u16 = 0x20;
    pub const JEQ_K: u16 = 0x15;
    pub const JA: u16 = 0x05;
    pub const TAX: u16 = 0x07;
    pub const XOR_X: u16 = 0xac;
    pub const RSH_K: u16 = 0x74;
    pub const MOD_K: u16 = 0x94;
    pub const RET_A: u16 = 0x16;
    pub const RET_K: u16 = 0x06;
}

/// A tiny assembler: instructions with forward jumps to named labels.
#[derive(Default)]
struct Asm {
    code: Vec<libc::sock_filter>,
    /// (instruction, true label, false label) of conditional jumps; ja uses the true one.
    jumps: Vec<(usize, &'static str, &'static str)>,
    labels: HashMap<&'static str, usize>,
}

impl Asm {
    fn ins(&mut self, code: u16, k: u32) {
        self.code.push(libc::sock_filter {
            code,
            jt: 0,
            jf: 0,
            k,
        });
    }

    fn label(&mut self, name: &'static str) {
        self.labels.insert(name, self.code.len());
    }

    fn jeq(&mut self, k: u32, yes: &'static str, no: &'static str) {
        self.jumps.push((self.code.len(), yes, no));
        self.ins(op::JEQ_K, k);
    }

    fn ja(&mut self, to: &'static str) {
        self.jumps.push((self.code.len(), to, to));
        self.ins(op::JA, 0);
    }

    fn finish(mut self) -> Vec<libc::sock_filter> {
        for (at, yes, no) in std::mem::take(&mut self.jumps) {
            let off = |label: &str| self.labels.get(label).map_or(0, |t| t - at - 1);
            let ins = &mut self.code[at];
            if ins.code == op::JA {
                ins.k = off(yes) as u32;
            } else {
                ins.jt = off(yes) as u8;
                ins.jf = off(no) as u8;
            }
        }
        self.code
    }
}

/// XORs the 32-bit words of both addresses into A, from the IP header at `ip`.
fn xor_words(a: &mut Asm, offsets: impl Iterator<Item = u32>) {
    for (i, off) in offsets.enumerate() {
        a.ins(op::LD_ABS, off);
        if i > 0 {
            a.ins(op::XOR_X, 0);
        }
        a.ins(op::TAX, 0);
    }
    a.ja("mix");
}

/// The ring-picking program for `rings` rings (Ethernet frames, optionally one 802.1Q tag).
fn program(rings: u32) -> Vec<libc::sock_filter> {
    let mut a = Asm::default();
    a.ins(op::LDH_ABS, 12);
    a.jeq(0x8100, "vlan", "untagged");
    a.label("untagged");
    a.jeq(0x0800, "v4", "untagged6");
    a.label("untagged6");
    a.jeq(0x86dd, "v6", "none");
    a.label("vlan");
    a.ins(op::LDH_ABS, 16);
    a.jeq(0x0800, "v4_vlan", "vlan6");
    a.label("vlan6");
    a.jeq(0x86dd, "v6_vlan", "none");
    for (label, ip) in [("v4", 14u32), ("v4_vlan", 18)] {
        a.label(label);
        xor_words(&mut a, [ip + 12, ip + 16].into_iter());
    }
    for (label, ip) in [("v6", 14u32), ("v6_vlan", 18)] {
        a.label(label);
        xor_words(&mut a, (0..8).map(move |w| ip + 8 + 4 * w));
    }
    a.label("mix");
    a.ins(op::RSH_K, 16);
    a.ins(op::XOR_X, 0);
    a.ins(op::MOD_K, rings.max(1));
    a.ins(op::RET_A, 0);
    a.label("none");
    a.ins(op::RET_K, 0);
    a.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program on a frame (an interpreter for the opcodes above).
    fn run(prog: &[libc::sock_filter], pkt: &[u8]) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let word = |off: u32, n: usize| {
            let o = off as usize;
            pkt.get(o..o + n)
                .map(|b| b.iter().fold(0u32, |acc, v| (acc << 8) | u32::from(*v)))
        };
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                op::LDH_ABS => a = word(i.k, 2).unwrap_or(0),
                op::LD_ABS => match word(i.k, 4) {
                    Some(v) => a = v,
                    None => return 0,
                },
                op::JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
                op::JA => pc += i.k as usize,
                op::TAX => x = a,
                op::XOR_X => a ^= x,
                op::RSH_K => a >>= i.k,
                op::MOD_K => a %= i.k,
                op::RET_A => return a,
                op::RET_K => return i.k,
                other => panic!("opcode {other:#x}"),
            }
        }
    }

    fn v4(s: [u8; 4], d: [u8; 4], vlan: bool) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        if vlan {
            f.extend_from_slice(&[0x81, 0x00, 0, 7]);
        }
        f.extend_from_slice(&[0x08, 0x00]);
        let mut ip = vec![0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0];
        ip.extend_from_slice(&s);
        ip.extend_from_slice(&d);
        f.extend_from_slice(&ip);
        f
    }

    #[test]
    fn symmetric_spread_and_safe_on_short_frames() {
        let prog = program(3);
        assert!(prog.len() < 200, "every jump fits in a byte");
        let mut seen = [0usize; 3];
        for i in 0..300u32 {
            let c = i.to_be_bytes();
            let q = v4([10, 1, c[2], c[3]], [192, 0, 2, 53], false);
            let r = v4([192, 0, 2, 53], [10, 1, c[2], c[3]], true);
            let ring = run(&prog, &q);
            assert_eq!(ring, run(&prog, &r), "both directions, tagged or not");
            seen[ring as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
        let mut v6 = vec![0u8; 12];
        v6.extend_from_slice(&[0x86, 0xdd]);
        v6.extend_from_slice(&[0x60; 40]);
        assert!(run(&prog, &v6) < 3);
        assert_eq!(run(&prog, &[0u8; 14]), 0, "not IP");
        assert_eq!(
            run(&prog, &v4([1, 2, 3, 4], [5, 6, 7, 8], false)[..20]),
            0,
            "short"
        );
    }
}
