//! Enrichment tables: GeoIP City / ASN lookups (`geo`) and the IANA service-name
//! registry that names ports (`services`).
//!
//! Both are loaded once at start-up and shared read-only; per-thread lookup state
//! (the GeoIP LRU caches) lives in handles that each consumer owns, so the per-packet
//! path takes no locks.

pub mod geo;
pub mod services;

pub use geo::{GeoDatabases, GeoError, GeoLocation, GeoLookup};
pub use services::{ServiceRegistry, ServicesError, Transport};
