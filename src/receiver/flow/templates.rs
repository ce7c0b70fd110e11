//! Template caches of NetFlow v9 / IPFIX exporters: one per exporter address and
//! observation domain (v9 source id), bounded, with a refresh timeout.
//!
//! A template is valid until its timeout passes without the exporter re-sending it (UDP
//! exporters re-send periodically; RFC 7011 §8.4). A domain holds at most
//! `max_templates`; the table holds at most `max_domains`; when full, the entry refreshed
//! longest ago goes, and every eviction and expiry is counted. The domain also remembers
//! the sampling rate its options data announced last.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use foldhash::fast::FixedState;

use crate::time::Timespec;
use crate::wire::netflow::template::Template;

/// Bounds and timeout of a template cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateLimits {
    /// Exporter + domain pairs kept.
    pub max_domains: usize,
    /// Templates kept per domain.
    pub max_templates: usize,
    /// Seconds a template stays valid without being re-sent.
    pub timeout_secs: i64,
}

impl Default for TemplateLimits {
    fn default() -> Self {
        TemplateLimits {
            max_domains: 4096,
            max_templates: 1024,
            timeout_secs: 1800,
        }
    }
}

/// Counters of a template cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TemplateStats {
    /// Templates (and options templates) received.
    pub received: u64,
    /// Templates withdrawn by their exporter.
    pub withdrawn: u64,
    /// Templates dropped because their domain was full.
    pub evicted: u64,
    /// Templates dropped because they timed out.
    pub expired: u64,
    /// Domains dropped because the table was full.
    pub domains_evicted: u64,
}

struct Entry {
    template: Arc<Template>,
    refreshed: i64,
}

#[derive(Default)]
struct Domain {
    templates: HashMap<u16, Entry, FixedState>,
    sampling: u32,
    seen: i64,
}

/// The cache.
pub struct TemplateCache {
    limits: TemplateLimits,
    domains: HashMap<(IpAddr, u32), Domain, FixedState>,
    stats: TemplateStats,
}

impl std::fmt::Debug for TemplateCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateCache")
            .field("domains", &self.domains.len())
            .field("templates", &self.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl TemplateCache {
    /// An empty cache.
    pub fn new(limits: TemplateLimits) -> Self {
        TemplateCache {
            limits,
            domains: HashMap::with_hasher(FixedState::default()),
            stats: TemplateStats::default(),
        }
    }

    /// The bounds.
    pub fn limits(&self) -> TemplateLimits {
        self.limits
    }

    /// Counters so far.
    pub fn stats(&self) -> TemplateStats {
        self.stats
    }

    /// Templates held.
    pub fn len(&self) -> usize {
        self.domains.values().map(|d| d.templates.len()).sum()
    }

    /// Whether no template is held.
    pub fn is_empty(&self) -> bool {
        self.domains.values().all(|d| d.templates.is_empty())
    }

    /// Exporter + domain pairs held.
    pub fn domains(&self) -> usize {
        self.domains.len()
    }

    fn domain(&mut self, key: (IpAddr, u32), now: i64) -> &mut Domain {
        if !self.domains.contains_key(&key)
            && self.domains.len() >= self.limits.max_domains
            && let Some(old) = self
                .domains
                .iter()
                .min_by_key(|(_, d)| d.seen)
                .map(|(k, _)| *k)
        {
            if let Some(d) = self.domains.remove(&old) {
                self.stats.evicted += d.templates.len() as u64;
            }
            self.stats.domains_evicted += 1;
        }
        let d = self.domains.entry(key).or_default();
        d.seen = now;
        d
    }

    /// Stores (or replaces, or for an empty template withdraws) a template.
    pub fn insert(&mut self, exporter: IpAddr, domain: u32, t: Template, now: Timespec) {
        let max = self.limits.max_templates;
        self.stats.received += 1;
        let id = t.id;
        let withdrawal = t.is_withdrawal();
        let mut evicted = 0;
        let d = self.domain((exporter, domain), now.sec);
        if withdrawal {
            if d.templates.remove(&id).is_some() {
                self.stats.withdrawn += 1;
            }
            return;
        }
        if !d.templates.contains_key(&id)
            && d.templates.len() >= max
            && let Some(old) = d
                .templates
                .iter()
                .min_by_key(|(_, e)| e.refreshed)
                .map(|(k, _)| *k)
        {
            d.templates.remove(&old);
            evicted += 1;
        }
        d.templates.insert(
            id,
            Entry {
                template: Arc::new(t),
                refreshed: now.sec,
            },
        );
        self.stats.evicted += evicted;
    }

    /// The template `id` of a domain, unless missing or timed out (then dropped).
    pub fn get(
        &mut self,
        exporter: IpAddr,
        domain: u32,
        id: u16,
        now: Timespec,
    ) -> Option<Arc<Template>> {
        let timeout = self.limits.timeout_secs;
        let d = self.domains.get_mut(&(exporter, domain))?;
        d.seen = now.sec;
        let e = d.templates.get(&id)?;
        if now.sec.saturating_sub(e.refreshed) > timeout {
            d.templates.remove(&id);
            self.stats.expired += 1;
            return None;
        }
        Some(Arc::clone(&e.template))
    }

    /// Remembers the sampling rate a domain's options data announced.
    pub fn set_sampling(&mut self, exporter: IpAddr, domain: u32, rate: u32, now: Timespec) {
        self.domain((exporter, domain), now.sec).sampling = rate;
    }

    /// The sampling rate a domain's options data announced (0 when none).
    pub fn sampling(&self, exporter: IpAddr, domain: u32) -> u32 {
        self.domains
            .get(&(exporter, domain))
            .map_or(0, |d| d.sampling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: u16, fields: usize) -> Template {
        use crate::wire::netflow::template::templates;
        let mut b = vec![];
        b.extend_from_slice(&id.to_be_bytes());
        b.extend_from_slice(&(fields as u16).to_be_bytes());
        for _ in 0..fields {
            b.extend_from_slice(&[0, 1, 0, 4]);
        }
        if fields == 0 {
            // an IPFIX withdrawal
            return templates(&b, true, false).next().unwrap().unwrap();
        }
        templates(&b, false, false).next().unwrap().unwrap()
    }

    fn ts(s: i64) -> Timespec {
        Timespec::new(s, 0)
    }

    #[test]
    fn bounds_timeouts_and_withdrawals() {
        let limits = TemplateLimits {
            max_domains: 2,
            max_templates: 2,
            timeout_secs: 100,
        };
        let mut c = TemplateCache::new(limits);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        c.insert(a, 1, t(256, 1), ts(0));
        c.insert(a, 1, t(257, 1), ts(1));
        c.insert(a, 1, t(258, 1), ts(2));
        assert_eq!(c.stats().evicted, 1);
        assert!(c.get(a, 1, 256, ts(3)).is_none());
        assert!(c.get(a, 1, 258, ts(3)).is_some());
        // same id, other domain or exporter: independent
        assert!(c.get(a, 2, 258, ts(3)).is_none());
        c.insert(b, 1, t(258, 2), ts(4));
        assert_eq!(c.get(b, 1, 258, ts(4)).unwrap().fields.len(), 2);
        assert_eq!(c.get(a, 1, 258, ts(4)).unwrap().fields.len(), 1);
        // a third domain evicts the least recently seen one (a/1 was seen at 4 too; b/1 at 4)
        c.insert(a, 9, t(300, 1), ts(5));
        assert_eq!(c.domains(), 2);
        assert_eq!(c.stats().domains_evicted, 1);
        // timeout
        assert!(c.get(a, 9, 300, ts(200)).is_none());
        assert_eq!(c.stats().expired, 1);
        // withdrawal
        c.insert(a, 9, t(301, 1), ts(200));
        c.insert(a, 9, t(301, 0), ts(201));
        assert!(c.get(a, 9, 301, ts(202)).is_none());
        assert_eq!(c.stats().withdrawn, 1);
        c.set_sampling(a, 9, 100, ts(203));
        assert_eq!(c.sampling(a, 9), 100);
        assert_eq!(c.sampling(b, 9), 0);
    }
}
