//! Template caches of NetFlow v9 / IPFIX exporters: one per exporter address and
//! observation domain (v9 source id), bounded in count and in bytes, with a refresh
//! timeout.
//!
//! A template is valid until its timeout passes without the exporter re-sending it (UDP
//! exporters re-send periodically; RFC 7011 §8.4); timed-out templates are dropped when
//! used and swept once a minute. A domain holds at most `max_templates`; the table holds at
//! most `max_domains` (the entry refreshed longest ago goes). Because the domain id and the
//! template sizes come from the datagrams, the cache also has byte budgets: each exporter
//! address may hold at most `max_exporter_bytes` (a template past it is refused) and all
//! exporters together `max_total_bytes` (the exporter holding the most bytes is dropped to
//! make room, unless it is the one adding: then the template is refused). Every refusal,
//! eviction and expiry is counted. The domain also remembers the sampling rate its options
//! data announced last.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use foldhash::fast::FixedState;

use crate::time::Timespec;
use crate::wire::netflow::template::{FieldSpec, Template};

/// Bounds and timeout of a template cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateLimits {
    /// Exporter + domain pairs kept.
    pub max_domains: usize,
    /// Templates kept per domain.
    pub max_templates: usize,
    /// Seconds a template stays valid without being re-sent.
    pub timeout_secs: i64,
    /// Bytes the templates (and domains) of one exporter address may hold.
    pub max_exporter_bytes: usize,
    /// Bytes the whole cache may hold.
    pub max_total_bytes: usize,
}

/// Default bytes per exporter (a router's templates take a few KiB).
pub const DEFAULT_EXPORTER_BYTES: usize = 1 << 20;

/// Default bytes of the whole cache.
pub const DEFAULT_TOTAL_BYTES: usize = 16 << 20;

impl TemplateLimits {
    /// One of `n` equal shares of these bounds (a stream's workers each hold one): the
    /// domains and the whole cache's bytes are divided; an exporter's own budget is not,
    /// since all of an exporter's datagrams go to one worker.
    pub fn share(self, n: usize) -> Self {
        let n = n.max(1);
        TemplateLimits {
            max_domains: (self.max_domains / n).max(1),
            max_total_bytes: (self.max_total_bytes / n).max(self.max_exporter_bytes),
            ..self
        }
    }
}

impl Default for TemplateLimits {
    fn default() -> Self {
        TemplateLimits {
            max_domains: 4096,
            max_templates: 1024,
            timeout_secs: 1800,
            max_exporter_bytes: DEFAULT_EXPORTER_BYTES,
            max_total_bytes: DEFAULT_TOTAL_BYTES,
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
    /// Templates refused by a byte budget (their exporter's, or the total when their
    /// exporter held the most).
    pub refused: u64,
    /// Templates dropped with the exporter holding the most bytes to make room in the
    /// total budget.
    pub budget_evicted: u64,
}

/// Bytes a domain costs besides its templates.
const DOMAIN_BYTES: usize =
    std::mem::size_of::<Domain>() + std::mem::size_of::<u32>() + 2 * std::mem::size_of::<usize>();

/// Bytes a template costs in the cache: its entry, its `Arc`, its fields.
pub fn template_bytes(t: &Template) -> usize {
    std::mem::size_of::<Entry>()
        + std::mem::size_of::<u16>()
        + 2 * std::mem::size_of::<usize>()
        + std::mem::size_of::<Template>()
        + t.fields.capacity() * std::mem::size_of::<FieldSpec>()
}

/// Seconds between sweeps of timed-out templates.
const SWEEP_SECS: i64 = 60;

struct Entry {
    template: Arc<Template>,
    refreshed: i64,
    bytes: usize,
}

#[derive(Default)]
struct Domain {
    templates: HashMap<u16, Entry, FixedState>,
    sampling: u32,
    seen: i64,
}

#[derive(Default)]
struct Exporter {
    domains: HashMap<u32, Domain, FixedState>,
    bytes: usize,
}

/// The cache.
pub struct TemplateCache {
    limits: TemplateLimits,
    exporters: HashMap<IpAddr, Exporter, FixedState>,
    domains: usize,
    templates: usize,
    bytes: usize,
    last_sweep: Option<i64>,
    stats: TemplateStats,
}

impl std::fmt::Debug for TemplateCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateCache")
            .field("domains", &self.domains)
            .field("templates", &self.templates)
            .field("bytes", &self.bytes)
            .field("stats", &self.stats)
            .finish()
    }
}

impl TemplateCache {
    /// An empty cache.
    pub fn new(limits: TemplateLimits) -> Self {
        TemplateCache {
            limits,
            exporters: HashMap::with_hasher(FixedState::default()),
            domains: 0,
            templates: 0,
            bytes: 0,
            last_sweep: None,
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
        self.templates
    }

    /// Whether no template is held.
    pub fn is_empty(&self) -> bool {
        self.templates == 0
    }

    /// Exporter + domain pairs held.
    pub fn domains(&self) -> usize {
        self.domains
    }

    /// Exporter addresses held.
    pub fn exporters(&self) -> usize {
        self.exporters.len()
    }

    /// Bytes held (templates and domains).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes one exporter holds.
    pub fn exporter_bytes(&self, exporter: &IpAddr) -> usize {
        self.exporters.get(exporter).map_or(0, |e| e.bytes)
    }

    fn drop_exporter(&mut self, ip: &IpAddr) -> u64 {
        let Some(e) = self.exporters.remove(ip) else {
            return 0;
        };
        let n: usize = e.domains.values().map(|d| d.templates.len()).sum();
        self.domains -= e.domains.len();
        self.templates -= n;
        self.bytes -= e.bytes;
        n as u64
    }

    fn drop_domain(&mut self, key: (IpAddr, u32)) -> u64 {
        let Some(e) = self.exporters.get_mut(&key.0) else {
            return 0;
        };
        let Some(d) = e.domains.remove(&key.1) else {
            return 0;
        };
        let bytes = DOMAIN_BYTES + d.templates.values().map(|t| t.bytes).sum::<usize>();
        e.bytes -= bytes;
        self.bytes -= bytes;
        self.domains -= 1;
        self.templates -= d.templates.len();
        if e.domains.is_empty() {
            self.exporters.remove(&key.0);
        }
        d.templates.len() as u64
    }

    fn drop_template(&mut self, exporter: IpAddr, domain: u32, id: u16) -> bool {
        let Some(e) = self.exporters.get_mut(&exporter) else {
            return false;
        };
        let Some(old) = e
            .domains
            .get_mut(&domain)
            .and_then(|d| d.templates.remove(&id))
        else {
            return false;
        };
        e.bytes -= old.bytes;
        self.bytes -= old.bytes;
        self.templates -= 1;
        true
    }

    /// Makes room for `need` more bytes of `exporter` (a new domain adds its own cost):
    /// false when a budget refuses them.
    fn admit(&mut self, exporter: IpAddr, need: usize, released: usize) -> bool {
        let mine = self.exporter_bytes(&exporter).saturating_sub(released) + need;
        if mine > self.limits.max_exporter_bytes {
            return false;
        }
        while self.bytes.saturating_sub(released) + need > self.limits.max_total_bytes {
            let heaviest = self
                .exporters
                .iter()
                .filter(|(k, _)| **k != exporter)
                .max_by_key(|(_, e)| e.bytes)
                .map(|(k, e)| (*k, e.bytes));
            match heaviest {
                Some((ip, bytes)) if bytes > mine => {
                    self.stats.budget_evicted += self.drop_exporter(&ip);
                }
                _ => return false,
            }
        }
        true
    }

    /// The domain `key`, created when new (evicting the domain seen longest ago when the
    /// table is full); the caller has admitted its bytes.
    fn domain(&mut self, key: (IpAddr, u32), now: i64) -> &mut Domain {
        let exists = self
            .exporters
            .get(&key.0)
            .is_some_and(|e| e.domains.contains_key(&key.1));
        if !exists {
            if self.domains >= self.limits.max_domains
                && let Some(old) = self
                    .exporters
                    .iter()
                    .flat_map(|(ip, e)| e.domains.iter().map(move |(d, v)| ((*ip, *d), v.seen)))
                    .min_by_key(|(_, seen)| *seen)
                    .map(|(k, _)| k)
            {
                self.stats.evicted += self.drop_domain(old);
                self.stats.domains_evicted += 1;
            }
            self.domains += 1;
            self.bytes += DOMAIN_BYTES;
            let e = self.exporters.entry(key.0).or_default();
            e.bytes += DOMAIN_BYTES;
        }
        let d = self
            .exporters
            .entry(key.0)
            .or_default()
            .domains
            .entry(key.1)
            .or_default();
        d.seen = now;
        d
    }

    fn has_domain(&self, exporter: &IpAddr, domain: u32) -> bool {
        self.exporters
            .get(exporter)
            .is_some_and(|e| e.domains.contains_key(&domain))
    }

    /// Drops every template not refreshed within the timeout (at most once a minute), and
    /// domains left without templates that were not seen within it.
    fn sweep(&mut self, now: i64) {
        let last = *self.last_sweep.get_or_insert(now);
        if now.saturating_sub(last) < SWEEP_SECS {
            return;
        }
        self.last_sweep = Some(now);
        let timeout = self.limits.timeout_secs;
        let mut expired = Vec::new();
        let mut idle = Vec::new();
        for (ip, e) in &self.exporters {
            for (dom, d) in &e.domains {
                for (id, t) in &d.templates {
                    if now.saturating_sub(t.refreshed) > timeout {
                        expired.push((*ip, *dom, *id));
                    }
                }
                if now.saturating_sub(d.seen) > timeout {
                    idle.push((*ip, *dom));
                }
            }
        }
        for (ip, dom, id) in expired {
            if self.drop_template(ip, dom, id) {
                self.stats.expired += 1;
            }
        }
        for key in idle {
            let empty = self
                .exporters
                .get(&key.0)
                .and_then(|e| e.domains.get(&key.1))
                .is_some_and(|d| d.templates.is_empty());
            if empty {
                self.drop_domain(key);
            }
        }
    }

    /// Stores (or replaces, or for an empty template withdraws) a template. A template its
    /// exporter's byte budget (or the total budget) cannot take is refused and counted; an
    /// older template of the same id is dropped then too, so it cannot decode data sent
    /// under the new definition.
    pub fn insert(&mut self, exporter: IpAddr, domain: u32, t: Template, now: Timespec) {
        let max = self.limits.max_templates;
        self.stats.received += 1;
        self.sweep(now.sec);
        let id = t.id;
        if t.is_withdrawal() {
            if self.drop_template(exporter, domain, id) {
                self.stats.withdrawn += 1;
            }
            return;
        }
        let cost = template_bytes(&t);
        let released = self
            .exporters
            .get(&exporter)
            .and_then(|e| e.domains.get(&domain))
            .and_then(|d| d.templates.get(&id))
            .map_or(0, |e| e.bytes);
        let domain_cost = if self.has_domain(&exporter, domain) {
            0
        } else {
            DOMAIN_BYTES
        };
        if !self.admit(exporter, cost + domain_cost, released) {
            self.stats.refused += 1;
            self.drop_template(exporter, domain, id);
            return;
        }
        self.drop_template(exporter, domain, id);
        let d = self.domain((exporter, domain), now.sec);
        let mut evicted = None;
        if d.templates.len() >= max
            && let Some(old) = d
                .templates
                .iter()
                .min_by_key(|(_, e)| e.refreshed)
                .map(|(k, _)| *k)
        {
            evicted = Some(old);
        }
        d.templates.insert(
            id,
            Entry {
                template: Arc::new(t),
                refreshed: now.sec,
                bytes: cost,
            },
        );
        self.templates += 1;
        self.bytes += cost;
        if let Some(e) = self.exporters.get_mut(&exporter) {
            e.bytes += cost;
        }
        if let Some(old) = evicted
            && self.drop_template(exporter, domain, old)
        {
            self.stats.evicted += 1;
        }
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
        let d = self
            .exporters
            .get_mut(&exporter)?
            .domains
            .get_mut(&domain)?;
        d.seen = now.sec;
        let e = d.templates.get(&id)?;
        if now.sec.saturating_sub(e.refreshed) > timeout {
            self.drop_template(exporter, domain, id);
            self.stats.expired += 1;
            return None;
        }
        Some(Arc::clone(&e.template))
    }

    /// Remembers the sampling rate a domain's options data announced (a new domain only
    /// when the byte budgets take it).
    pub fn set_sampling(&mut self, exporter: IpAddr, domain: u32, rate: u32, now: Timespec) {
        if !self.has_domain(&exporter, domain) && !self.admit(exporter, DOMAIN_BYTES, 0) {
            return;
        }
        self.domain((exporter, domain), now.sec).sampling = rate;
    }

    /// The sampling rate a domain's options data announced (0 when none).
    pub fn sampling(&self, exporter: IpAddr, domain: u32) -> u32 {
        self.exporters
            .get(&exporter)
            .and_then(|e| e.domains.get(&domain))
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
            ..TemplateLimits::default()
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

    #[test]
    fn byte_budgets_refuse_and_evict_and_keep_the_books() {
        let one = template_bytes(&t(256, 100));
        let limits = TemplateLimits {
            max_exporter_bytes: 3 * one + 2 * DOMAIN_BYTES,
            max_total_bytes: 5 * one + 4 * DOMAIN_BYTES,
            ..TemplateLimits::default()
        };
        let mut c = TemplateCache::new(limits);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let x: IpAddr = "10.0.0.3".parse().unwrap();
        for id in 256..266 {
            c.insert(a, 1, t(id, 100), ts(1));
        }
        assert_eq!(c.len(), 3, "a's budget holds three");
        assert_eq!(c.stats().refused, 7);
        assert!(c.exporter_bytes(&a) <= limits.max_exporter_bytes);
        // replacing an id within the budget works
        c.insert(a, 1, t(256, 100), ts(2));
        assert!(c.get(a, 1, 256, ts(2)).is_some());
        // b takes two, then x's third would pass the total: a, the heaviest, goes
        c.insert(b, 1, t(256, 100), ts(3));
        c.insert(b, 1, t(257, 100), ts(3));
        assert_eq!(c.len(), 5);
        c.insert(x, 1, t(256, 100), ts(4));
        assert_eq!(c.stats().budget_evicted, 3);
        assert_eq!(c.exporter_bytes(&a), 0);
        assert!(c.get(x, 1, 256, ts(4)).is_some());
        assert!(c.bytes() <= limits.max_total_bytes);
        // the books balance: bytes are the sum of what is held
        let held: usize = [a, b, x].iter().map(|e| c.exporter_bytes(e)).sum();
        assert_eq!(held, c.bytes());
        // an exporter that would itself be the heaviest is refused, not others evicted
        let before = c.stats().budget_evicted;
        for id in 300..310 {
            c.insert(b, 2, t(id, 100), ts(5));
        }
        assert_eq!(c.stats().budget_evicted, before);
        assert!(c.bytes() <= limits.max_total_bytes);
        // sweeping drops what timed out and gives its bytes back
        c.insert(x, 1, t(257, 1), ts(10_000));
        assert!(c.stats().expired >= 4);
        assert_eq!(c.len(), 1);
        let held: usize = [a, b, x].iter().map(|e| c.exporter_bytes(e)).sum();
        assert_eq!(held, c.bytes());
    }
}
