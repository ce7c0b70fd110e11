//! QNAME aggregation (pktvisor's `aggregateDomain`) and the public suffix list.
//!
//! `aggregate` turns a lower-cased name into its "qname2" and "qname3" keys: the last two
//! and three labels, keeping the leading dot of the cut (`a.b.test.com` → `.test.com`,
//! `.b.test.com`), the whole name when it has exactly that many labels, and an empty key
//! when there are not enough labels. A trailing dot is ignored for positioning but kept.
//! With a suffix size (from an `only_qname_suffix` match or the public suffix list) the
//! suffix plays the role of the TLD: qname2 is one label plus the suffix, qname3 two.
//!
//! The public suffix list is the ICANN section of the Mozilla list without the new gTLDs,
//! compiled in (`psl_icann.txt`), as pktvisor does; wildcard (`*.`) and exception (`!`)
//! rules are kept literally and therefore never match (pktvisor's behaviour).

use std::collections::HashMap;
use std::sync::OnceLock;

/// Last index of `.` in `s[..end]`.
fn last_dot(s: &[u8], end: usize) -> Option<usize> {
    s.get(..end)?.iter().rposition(|b| *b == b'.')
}

/// The (qname2, qname3) keys of `name`; an empty string means "not counted".
/// `suffix_size` 0 uses the last label as the top level.
pub fn aggregate(name: &str, suffix_size: usize) -> (&str, &str) {
    let b = name.as_bytes();
    if b.len() < 5 && suffix_size == 0 {
        return (name, "");
    }
    // Positions ignore one trailing dot.
    let end = if b.len() > 1 && b.last() == Some(&b'.') {
        b.len() - 1
    } else {
        b.len()
    };
    let first_cut = if suffix_size > 0 && suffix_size < end {
        // The label before the suffix starts after the dot that precedes the suffix.
        let p = end - suffix_size;
        let start = if p > 0 && b.get(p - 1) == Some(&b'.') {
            p - 1
        } else {
            p
        };
        last_dot(b, start)
    } else {
        last_dot(b, end).and_then(|d| last_dot(b, d))
    };
    let Some(d2) = first_cut else {
        return (name, "");
    };
    let qname2 = name.get(d2..).unwrap_or(name);
    let qname3 = match last_dot(b, d2) {
        Some(d3) => name.get(d3..).unwrap_or(""),
        None if d2 > 0 => name,
        None => "",
    };
    (qname2, qname3)
}

fn psl() -> &'static HashMap<&'static str, Vec<&'static str>> {
    static PSL: OnceLock<HashMap<&'static str, Vec<&'static str>>> = OnceLock::new();
    PSL.get_or_init(|| {
        let mut map: HashMap<&'static str, Vec<&'static str>> = HashMap::new();
        for rule in include_str!("psl_icann.txt").lines() {
            let rule = rule.trim();
            if rule.is_empty() {
                continue;
            }
            let tld = rule.rsplit('.').next().unwrap_or(rule);
            let entry = map.entry(tld).or_default();
            if rule.contains('.') {
                entry.push(rule);
            }
        }
        map
    })
}

/// The suffix size the public suffix list gives `name` (lower-cased): the longest listed
/// multi-label suffix the name ends with, plus one for its dot; else the last label's
/// length plus one; 0 for names ending with a dot.
pub fn public_suffix_size(name: &str) -> usize {
    if name.is_empty() || name.ends_with('.') {
        return 0;
    }
    let tld = name.rsplit('.').next().unwrap_or(name);
    let mut best = tld.len();
    if let Some(rules) = psl().get(tld) {
        for rule in rules {
            if rule.len() > best
                && name.len() > rule.len()
                && name.ends_with(rule)
                && name.as_bytes().get(name.len() - rule.len() - 1) == Some(&b'.')
            {
                best = rule.len();
            }
        }
    }
    best + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pktvisor_aggregate_domain_cases() {
        let cases = [
            ("biz.foo.bar.com", ".bar.com", ".foo.bar.com"),
            ("a.com", "a.com", ""),
            ("abcdefg.com.", "abcdefg.com.", ""),
            ("foo.bar.com", ".bar.com", "foo.bar.com"),
            (".", ".", ""),
            ("..", "..", ""),
            ("a", "a", ""),
            ("a.", "a.", ""),
            ("foo.bar.com.", ".bar.com.", "foo.bar.com."),
            (".foo.bar.com", ".bar.com", ".foo.bar.com"),
            ("a.b.c", ".b.c", "a.b.c"),
            (".b.c", ".b.c", ""),
        ];
        for (name, q2, q3) in cases {
            assert_eq!(aggregate(name, 0), (q2, q3), "{name}");
        }
    }

    #[test]
    fn pktvisor_static_suffix_cases() {
        let cases = [
            ("biz.foo.bar.com", 8, ".foo.bar.com", "biz.foo.bar.com"),
            ("biz.foo.bar.com", 7, ".foo.bar.com", "biz.foo.bar.com"),
            ("biz.foo.bar.com", 11, "biz.foo.bar.com", ""),
            ("foo.bar.com.", 15, ".bar.com.", "foo.bar.com."),
            ("www.google.co.uk", 6, ".google.co.uk", "www.google.co.uk"),
            ("www.google.co.uk", 12, "www.google.co.uk", ""),
        ];
        for (name, size, q2, q3) in cases {
            assert_eq!(aggregate(name, size), (q2, q3), "{name} / {size}");
        }
    }

    #[test]
    fn public_suffix_list_sizes() {
        assert_eq!(public_suffix_size("www.google.co.uk"), ".co.uk".len());
        assert_eq!(public_suffix_size("sirius.mwbsys.com"), ".com".len());
        assert_eq!(
            aggregate("sirius.mwbsys.com", 4),
            (".mwbsys.com", "sirius.mwbsys.com")
        );
        assert_eq!(
            public_suffix_size("a.b.kawasaki.jp"),
            ".jp".len(),
            "wildcards never match"
        );
        assert_eq!(public_suffix_size("example.com."), 0);
        assert_eq!(public_suffix_size("x.lib.ak.us"), ".lib.ak.us".len());
    }
}
