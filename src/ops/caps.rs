//! Capabilities for capture without root: pktvisord's file capabilities in the container
//! image are `cap_net_raw,cap_net_admin=ip` (permitted, not effective), so the binary
//! starts whether or not the container was given those capabilities (with the effective
//! bit the kernel refuses to exec it when they are missing). At start the agent raises
//! whatever of CAP_NET_RAW and CAP_NET_ADMIN it is permitted into its effective set,
//! before any thread exists (threads inherit it). Raw `capget`/`capset`, no libcap.

/// `CAP_NET_ADMIN` (capability.h).
pub const CAP_NET_ADMIN: u32 = 12;
/// `CAP_NET_RAW` (capability.h).
pub const CAP_NET_RAW: u32 = 13;

const VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct Header {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The capability sets of this thread (bits 0-31 of each set; the network ones are there).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapSets {
    /// Effective set, low 32 bits.
    pub effective: u32,
    /// Permitted set, low 32 bits.
    pub permitted: u32,
}

impl CapSets {
    /// Whether `cap` (< 32) is effective.
    pub fn has_effective(&self, cap: u32) -> bool {
        self.effective & (1 << cap) != 0
    }
}

fn get() -> std::io::Result<[Data; 2]> {
    let mut h = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: capget with a v3 header writes two Data structs, which `d` provides.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut h, d.as_mut_ptr()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(d)
}

/// The current sets.
pub fn current() -> std::io::Result<CapSets> {
    let d = get()?;
    Ok(CapSets {
        effective: d[0].effective,
        permitted: d[0].permitted,
    })
}

/// Makes every permitted one of `caps` effective; returns the sets afterwards. Call it
/// before starting threads.
pub fn raise_permitted(caps: &[u32]) -> std::io::Result<CapSets> {
    let mut d = get()?;
    let want = caps
        .iter()
        .filter(|c| **c < 32)
        .fold(0u32, |m, c| m | (1 << c))
        & d[0].permitted;
    if d[0].effective & want != want {
        d[0].effective |= want;
        let mut h = Header {
            version: VERSION_3,
            pid: 0,
        };
        // SAFETY: capset with a v3 header reads two Data structs from `d`.
        let r = unsafe { libc::syscall(libc::SYS_capset, &mut h, d.as_ptr()) };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    current()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_keeps_effective_within_permitted() {
        let before = current().unwrap();
        let after = raise_permitted(&[CAP_NET_RAW, CAP_NET_ADMIN]).unwrap();
        for cap in [CAP_NET_RAW, CAP_NET_ADMIN] {
            let permitted = before.permitted & (1 << cap) != 0;
            assert_eq!(after.has_effective(cap), permitted, "cap {cap}");
        }
        assert_eq!(after.permitted, before.permitted);
    }
}
