//! EDNS(0): the OPT pseudo-record, its options and the Client Subnet option.

use super::*;

/// The OPT pseudo-record (EDNS0, RFC 6891 §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptRecord<'a> {
    pub(super) udp_payload_size: u16,
    pub(super) ttl: u32,
    pub(super) rdata: &'a [u8],
}

impl<'a> OptRecord<'a> {
    /// The requestor's UDP payload size (the CLASS field).
    pub fn udp_payload_size(&self) -> u16 {
        self.udp_payload_size
    }

    /// The upper 8 bits of the 12-bit extended RCODE (the header RCODE holds the lower 4).
    pub fn extended_rcode(&self) -> u8 {
        (self.ttl >> OPT_EXT_RCODE_SHIFT) as u8
    }

    /// The full 12-bit RCODE, from this record and the header RCODE `header_rcode`.
    pub fn full_rcode(&self, header_rcode: u8) -> u16 {
        (u16::from(self.extended_rcode()) << 4) | u16::from(header_rcode & 0x0f)
    }

    /// EDNS version.
    pub fn version(&self) -> u8 {
        (self.ttl >> OPT_VERSION_SHIFT) as u8
    }

    /// DO: DNSSEC answer OK.
    pub fn dnssec_ok(&self) -> bool {
        self.ttl & OPT_FLAG_DO != 0
    }

    /// The 16 flag bits (DO and the reserved Z bits).
    pub fn flags(&self) -> u16 {
        self.ttl as u16
    }

    /// The RDATA: the options, undecoded.
    pub fn rdata(&self) -> &'a [u8] {
        self.rdata
    }

    /// The options as `(code, data)`; stops at an option that overruns the RDATA.
    pub fn options(&self) -> EdnsOptions<'a> {
        EdnsOptions::new(self.rdata)
    }

    /// The first Client Subnet option (code 8), parsed; `None` when there is none.
    pub fn client_subnet(&self) -> Option<Result<ClientSubnet, WireError>> {
        self.options()
            .find(|(code, _)| *code == opt_code::CLIENT_SUBNET)
            .map(|(_, data)| ClientSubnet::parse(data))
    }
}

/// Iterator over EDNS options as `(code, data)`.
///
/// Stops cleanly at an option whose header or data overruns the buffer;
/// [`EdnsOptions::truncated`] then tells.
#[derive(Clone, Debug)]
pub struct EdnsOptions<'a> {
    data: &'a [u8],
    truncated: bool,
}

impl<'a> EdnsOptions<'a> {
    /// Options in `data` (an OPT record's RDATA).
    pub fn new(data: &'a [u8]) -> Self {
        EdnsOptions {
            data,
            truncated: false,
        }
    }

    /// Whether iteration stopped at an option overrunning the data.
    pub fn truncated(&self) -> bool {
        self.truncated
    }
}

impl<'a> Iterator for EdnsOptions<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        let len = usize::from(read_u16(self.data, OPTION_LEN));
        let end = OPTION_HEADER_LEN + len;
        match self.data.get(OPTION_HEADER_LEN..end) {
            Some(body) => {
                let code = read_u16(self.data, OPTION_CODE);
                self.data = rest(self.data, end);
                Some((code, body))
            }
            None => {
                self.truncated = true;
                self.data = &[];
                None
            }
        }
    }
}

impl FusedIterator for EdnsOptions<'_> {}

/// EDNS Client Subnet (option 8, RFC 7871).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientSubnet {
    /// Address family (1 IPv4, 2 IPv6).
    pub family: u16,
    /// SOURCE PREFIX-LENGTH.
    pub source_prefix: u8,
    /// SCOPE PREFIX-LENGTH.
    pub scope_prefix: u8,
    /// The address bytes as sent, zero-padded to the full address length.
    pub address: IpAddr,
}

impl ClientSubnet {
    /// Parses the option data.
    ///
    /// Errors: `Truncated` (fewer than 4 bytes), `Malformed` (family other
    /// than 1 or 2, or more address bytes than the family has). The prefix
    /// lengths are not checked against the address bytes.
    pub fn parse(data: &[u8]) -> Result<Self, WireError> {
        if data.len() < ECS_ADDRESS {
            return Err(WireError::Truncated);
        }
        let family = read_u16(data, ECS_FAMILY);
        let bytes = rest(data, ECS_ADDRESS);
        let address = match family {
            ECS_FAMILY_IPV4 if bytes.len() <= 4 => IpAddr::V4(Ipv4Addr::from(padded::<4>(bytes))),
            ECS_FAMILY_IPV6 if bytes.len() <= 16 => IpAddr::V6(Ipv6Addr::from(padded::<16>(bytes))),
            _ => return Err(WireError::Malformed),
        };
        Ok(ClientSubnet {
            family,
            source_prefix: read_u8(data, ECS_SOURCE_PREFIX),
            scope_prefix: read_u8(data, ECS_SCOPE_PREFIX),
            address,
        })
    }
}

/// `bytes` (at most `N`) followed by zeros.
fn padded<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = *b;
    }
    out
}
