//! Number and time formatting shared by the panels (pktvisor's `%3.1f%%`, Go's `time.Kitchen`,
//! short SI counts, bytes).

/// `part` as a percentage of `whole` (0 when `whole` is 0, where pktvisor prints NaN).
pub fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// `N (xx.x%)`, pktvisor's count-with-share.
pub fn count_pct(part: u64, whole: u64) -> String {
    format!("{part} ({:3.1}%)", pct(part, whole))
}

/// Go's `time.Kitchen` ("3:04PM") of a unix time shifted by `offset` seconds.
pub fn kitchen(ts: i64, offset: i64) -> String {
    let day = ts.saturating_add(offset).rem_euclid(86_400);
    let (h, m) = (day / 3600, day % 3600 / 60);
    let h12 = if h % 12 == 0 { 12 } else { h % 12 };
    format!("{h12}:{m:02}{}", if h < 12 { "AM" } else { "PM" })
}

/// A count in at most 5 characters: 999, 12.3k, 4.56M, 7.89G.
pub fn si(n: u64) -> String {
    let f = n as f64;
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.1}k", f / 1e3),
        1_000_000..=999_999_999 => format!("{:.2}M", f / 1e6),
        _ => format!("{:.2}G", f / 1e9),
    }
}

/// Bytes with a binary unit: 512 B, 1.3 KiB, 97.0 MiB.
pub fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Microseconds as milliseconds with one decimal.
pub fn ms(us: f64) -> String {
    format!("{:.1}", us / 1000.0)
}

/// A duration in seconds as `45s`, `3m05s`, `2h01m`.
pub fn ago(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(count_pct(1, 3), "1 (33.3%)");
        assert_eq!(count_pct(5, 0), "5 (0.0%)");
        assert_eq!(kitchen(0, 0), "12:00AM");
        assert_eq!(kitchen(15 * 3600 + 4 * 60, 0), "3:04PM");
        assert_eq!(kitchen(12 * 3600, -3600), "11:00AM");
        assert_eq!(
            (si(999), si(12_345), si(4_560_000), si(7_890_000_000)),
            ("999".into(), "12.3k".into(), "4.56M".into(), "7.89G".into())
        );
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(97_030_144.0), "92.5 MiB");
        assert_eq!(ms(28_410.0), "28.4");
        assert_eq!(
            (ago(5), ago(185), ago(7260)),
            ("5s".into(), "3m05s".into(), "2h01m".into())
        );
    }
}
