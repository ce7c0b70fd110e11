//! pcapng specifics of the capture reader: interfaces (link type, timestamp resolution and
//! offset), Interface Description Block options, and the block walk that yields packets.

use super::*;

/// Timestamp resolution of a pcapng interface.
#[derive(Clone, Copy, Debug)]
pub(super) enum Resolution {
    /// `10^-k` s with `k <= 9`: nanoseconds are `frac * mult`.
    Decimal { units: u64, mult: u64 },
    /// Any other resolution, in units per second.
    General { units: u128 },
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Interface {
    linktype: u16,
    snaplen: u32,
    resolution: Resolution,
    offset_secs: i64,
}

impl Interface {
    fn timestamp(&self, raw: u64) -> Timespec {
        let (secs, nsec) = match self.resolution {
            Resolution::Decimal { units, mult } => (raw / units, (raw % units) * mult),
            Resolution::General { units } => {
                let raw = u128::from(raw);
                let secs = u64::try_from(raw / units).unwrap_or(u64::MAX);
                let nsec = (raw % units) * 1_000_000_000 / units;
                (secs, u64::try_from(nsec).unwrap_or(0))
            }
        };
        let sec = i64::try_from(secs)
            .unwrap_or(i64::MAX)
            .saturating_add(self.offset_secs);
        timespec(sec, nsec)
    }
}

pub(super) fn resolution_from_tsresol(v: u8) -> Resolution {
    let exp = u32::from(v & 0x7f);
    if v & 0x80 == 0 && exp <= 9 {
        let units = 10u64.pow(exp);
        return Resolution::Decimal {
            units,
            mult: 10u64.pow(9 - exp),
        };
    }
    let units = if v & 0x80 != 0 {
        1u128 << exp
    } else {
        // 10^exp for exp up to 127 overflows u128 past 10^38; clamp (such a clock would be
        // absurd, and any raw u64 value is then below one second anyway).
        10u128.checked_pow(exp).unwrap_or(u128::MAX)
    };
    Resolution::General { units }
}

impl PcapFileReader {
    pub(super) fn next_pcapng(&mut self) -> Result<Option<PcapRecord<'_>>, PcapFileError> {
        loop {
            if !self.fill(8)? {
                return self.end_of_stream();
            }
            let offset = self.stream_pos;
            let Format::PcapNg { big_endian, .. } = self.format else {
                return Ok(None);
            };
            let mut be = big_endian;
            let block_type = u32_at(&self.buf, self.start, be);
            if block_type == PCAPNG_SHB {
                if !self.fill(12)? {
                    return self.end_truncated();
                }
                be = match u32_at(&self.buf, self.start + 8, false) {
                    PCAPNG_BOM => false,
                    bom if bom == PCAPNG_BOM.swap_bytes() => true,
                    _ => {
                        return Err(
                            self.corrupt(offset, "bad section header byte-order magic".into())
                        );
                    }
                };
            }
            let len = u32_at(&self.buf, self.start + 4, be) as usize;
            let min_len = match block_type {
                PCAPNG_SHB => 28,
                PCAPNG_IDB => 20,
                PCAPNG_EPB | PCAPNG_PB => 32,
                PCAPNG_SPB => 16,
                _ => 12,
            };
            if len < min_len || !len.is_multiple_of(4) {
                return Err(self.corrupt(
                    offset,
                    format!("block type {block_type:#x} has an invalid total length {len}"),
                ));
            }
            if !matches!(
                block_type,
                PCAPNG_SHB | PCAPNG_IDB | PCAPNG_EPB | PCAPNG_SPB | PCAPNG_PB
            ) {
                if !self.skip(len as u64)? {
                    return self.end_truncated();
                }
                continue;
            }
            if len > MAX_RECORD_LEN + 64 {
                return Err(self.corrupt(
                    offset,
                    format!("block type {block_type:#x} length {len} exceeds the maximum"),
                ));
            }
            if !self.fill(len)? {
                return self.end_truncated();
            }
            let b = &self.buf[self.start..self.start + len];
            if u32_at(b, len - 4, be) as usize != len {
                return Err(self.corrupt(
                    offset,
                    format!("block type {block_type:#x}: trailing length differs from {len}"),
                ));
            }
            match block_type {
                PCAPNG_SHB => {
                    let major = u16_at(b, 12, be);
                    if major != 1 {
                        return Err(self
                            .corrupt(offset, format!("unsupported pcapng major version {major}")));
                    }
                    self.format = Format::PcapNg {
                        big_endian: be,
                        interfaces: Vec::new(),
                    };
                    self.consume(len);
                }
                PCAPNG_IDB => {
                    let iface = parse_idb(b, be);
                    if let Format::PcapNg { interfaces, .. } = &mut self.format {
                        interfaces.push(iface);
                    }
                    self.consume(len);
                }
                _ => return self.packet_block(block_type, len, be, offset),
            }
        }
    }

    /// Delivers the EPB / SPB / PB at `buf[start..start+len]`.
    fn packet_block(
        &mut self,
        block_type: u32,
        len: usize,
        be: bool,
        offset: u64,
    ) -> Result<Option<PcapRecord<'_>>, PcapFileError> {
        let b = &self.buf[self.start..self.start + len];
        let body_end = len - 4;
        let (iface_id, ts_raw, caplen, origlen, data_off) = match block_type {
            PCAPNG_EPB => {
                let ts = (u64::from(u32_at(b, 12, be)) << 32) | u64::from(u32_at(b, 16, be));
                (
                    u32_at(b, 8, be),
                    Some(ts),
                    u32_at(b, 20, be),
                    u32_at(b, 24, be),
                    28,
                )
            }
            PCAPNG_PB => {
                let ts = (u64::from(u32_at(b, 12, be)) << 32) | u64::from(u32_at(b, 16, be));
                let id = u32::from(u16_at(b, 8, be));
                (id, Some(ts), u32_at(b, 20, be), u32_at(b, 24, be), 28)
            }
            _ => {
                let origlen = u32_at(b, 8, be);
                let room = u32::try_from(body_end - 12).unwrap_or(u32::MAX);
                (0, None, origlen.min(room), origlen, 12)
            }
        };
        let Format::PcapNg { interfaces, .. } = &self.format else {
            return Ok(None);
        };
        let Some(iface) = interfaces.get(iface_id as usize).copied() else {
            let n = interfaces.len();
            return Err(self.corrupt(
                offset,
                format!("packet block for interface {iface_id}, but the section has {n}"),
            ));
        };
        let mut caplen = caplen;
        if block_type == PCAPNG_SPB && iface.snaplen != 0 {
            caplen = caplen.min(iface.snaplen);
        }
        if data_off + caplen as usize > body_end {
            return Err(self.corrupt(
                offset,
                format!("captured length {caplen} overruns its {len}-byte block"),
            ));
        }
        let ts = ts_raw.map(|raw| iface.timestamp(raw)).unwrap_or_default();
        let data_start = self.start + data_off;
        self.consume(len);
        self.packets += 1;
        Ok(Some(PcapRecord {
            ts,
            linktype: iface.linktype,
            caplen,
            origlen,
            data: &self.buf[data_start..data_start + caplen as usize],
            offset: data_start,
        }))
    }
}

/// Interface Description Block: link type, snaplen, `if_tsresol` (9), `if_tsoffset` (14).
pub(super) fn parse_idb(b: &[u8], be: bool) -> Interface {
    let mut iface = Interface {
        linktype: u16_at(b, 8, be),
        snaplen: u32_at(b, 12, be),
        resolution: resolution_from_tsresol(6),
        offset_secs: 0,
    };
    let end = b.len() - 4;
    let mut at = 16;
    while at + 4 <= end {
        let code = u16_at(b, at, be);
        let olen = usize::from(u16_at(b, at + 2, be));
        let value = at + 4;
        if code == 0 || value + olen > end {
            break;
        }
        match (code, olen) {
            (9, 1..) => iface.resolution = resolution_from_tsresol(b[value]),
            (14, 8..) => iface.offset_secs = u64_at(b, value, be) as i64,
            _ => {}
        }
        at = value + olen.div_ceil(4) * 4;
    }
    iface
}
