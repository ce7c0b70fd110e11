//! GeoIP City and ASN/ISP lookups over MaxMind databases (pktvisor §13.1).
//!
//! [`GeoDatabases`] owns the two optional, memory-mapped databases (City and ASN/ISP),
//! shared read-only behind `Arc`s. Every consumer (one processor per worker thread) asks
//! it for a [`GeoLookup`] handle that owns its own LRU caches, so the per-packet path
//! takes no locks.
//!
//! Result strings follow pktvisor exactly:
//! * City: `continent.code` then `/country.names.en` (fallback `country.iso_code`), then
//!   `/subdivisions[0].iso_code`, then `/city.names.en`, each only when present (so a
//!   missing continent gives a leading `/`); latitude/longitude printed with six decimals.
//!   Not found or a lookup error gives `Unknown`; a disabled database gives `""`.
//! * ASN: `<autonomous_system_number>/<autonomous_system_organization>`, the number alone
//!   without an organization; not found gives `Unknown`; disabled gives `""`.

use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;

use lru::LruCache;
use maxminddb::{MaxMindDbError, Mmap, Reader};
use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// pktvisor's default LRU cache size per database (`--geo-cache-size`).
pub const DEFAULT_CACHE_SIZE: usize = 10_000;

/// The result for an address that the database does not hold (or a failed lookup).
pub const UNKNOWN: &str = "Unknown";

/// Errors opening a GeoIP database.
#[derive(thiserror::Error, Debug)]
pub enum GeoError {
    /// The database file could not be opened or is not a valid MaxMind DB. Display is
    /// pktvisor's fatal start-up message, `<file>: <MMDB error text>`.
    #[error("{path}: {error}")]
    Open {
        /// The database path as given.
        path: String,
        /// The MaxMind DB reader's error.
        error: MaxMindDbError,
    },
    /// The path is not a regular file of bounded size, or cannot be opened.
    #[error("{path}: {error}")]
    File {
        /// The database path as given.
        path: String,
        /// Why.
        error: String,
    },
}

type Db = Arc<Reader<Mmap>>;

/// The opened GeoIP databases (City and ASN/ISP, both optional), shared read-only.
///
/// Cloning is cheap (two `Arc` clones). Hand each consumer its own [`GeoLookup`] through
/// [`GeoDatabases::lookup`].
#[derive(Clone, Default)]
pub struct GeoDatabases {
    city: Option<Db>,
    asn: Option<Db>,
}

impl fmt::Debug for GeoDatabases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoDatabases")
            .field(
                "city",
                &self.city.as_ref().map(|r| &r.metadata().database_type),
            )
            .field(
                "asn",
                &self.asn.as_ref().map(|r| &r.metadata().database_type),
            )
            .finish()
    }
}

fn open_db(path: &Path) -> Result<Db, GeoError> {
    let name = || path.display().to_string();
    // A regular file of bounded size: a FIFO, a device (`/dev/zero`) or a directory is
    // refused before anything is mapped or read.
    let file =
        crate::files::open_regular(path, crate::files::MAX_GEO_DB_BYTES).map_err(|e| match e {
            crate::files::FileError::Io(e) => GeoError::Open {
                path: name(),
                error: MaxMindDbError::Io(e),
            },
            other => GeoError::File {
                path: name(),
                error: other.to_string(),
            },
        })?;
    // SAFETY: mapping is undefined behaviour if the file is modified or truncated while it
    // is mapped. The databases are read-only inputs the operator points the agent at,
    // opened once at start-up; pktvisor maps them the same way (MMDB_MODE_MMAP). Updating a
    // database must therefore be done by renaming a new file into place (which leaves this
    // mapping on the old inode), never by rewriting it in place. Mapping keeps memory
    // shared and start-up fast for databases of hundreds of MiB.
    let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| GeoError::Open {
        path: name(),
        error: MaxMindDbError::Mmap(e),
    })?;
    Reader::from_source(mmap)
        .map(Arc::new)
        .map_err(|error| GeoError::Open {
            path: name(),
            error,
        })
}

impl GeoDatabases {
    /// Opens the City and/or ASN database; `None` leaves that lookup disabled.
    ///
    /// A bad path or an invalid file fails with [`GeoError::Open`], whose Display reads
    /// `<file>: <MMDB error text>`.
    pub fn open(city: Option<&Path>, asn: Option<&Path>) -> Result<Self, GeoError> {
        let city = city.map(open_db).transpose()?;
        let asn = asn.map(open_db).transpose()?;
        Ok(GeoDatabases { city, asn })
    }

    /// No database enabled: every lookup answers `""`.
    pub fn none() -> Self {
        GeoDatabases::default()
    }

    /// True when a City database is open.
    pub fn city_enabled(&self) -> bool {
        self.city.is_some()
    }

    /// True when an ASN/ISP database is open.
    pub fn asn_enabled(&self) -> bool {
        self.asn.is_some()
    }

    /// A new per-consumer lookup handle sharing these databases, with fresh LRU caches of
    /// `cache_size` entries each (`0` disables caching).
    pub fn lookup(&self, cache_size: usize) -> GeoLookup {
        GeoLookup::new(self.city.clone(), self.asn.clone(), cache_size)
    }
}

/// A City lookup result.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct GeoLocation {
    /// `/`-joined present parts (continent, country, subdivision, city); `Unknown` when
    /// not found; empty when the City database is not enabled.
    pub location: String,
    /// Latitude with six decimals (`"60.000000"`), empty when absent.
    pub latitude: String,
    /// Longitude with six decimals, empty when absent.
    pub longitude: String,
}

impl From<&GeoLocation> for GeoLocation {
    fn from(l: &GeoLocation) -> Self {
        l.clone()
    }
}

/// A per-consumer lookup handle: shared databases plus its own LRU caches.
///
/// It is `Send`, meant to live in one worker thread. Results are returned as `Arc`s so
/// that a cache hit costs one reference-count increment, not string copies. Cloning gives
/// a handle over the same databases with empty caches and zeroed counters.
pub struct GeoLookup {
    city: Option<Db>,
    asn: Option<Db>,
    cache_size: usize,
    city_cache: Option<LruCache<IpAddr, Arc<GeoLocation>>>,
    asn_cache: Option<LruCache<IpAddr, Arc<str>>>,
    hits: u64,
    misses: u64,
    empty_location: Arc<GeoLocation>,
    unknown_location: Arc<GeoLocation>,
    empty_asn: Arc<str>,
    unknown_asn: Arc<str>,
}

impl fmt::Debug for GeoLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoLookup")
            .field("city_enabled", &self.city.is_some())
            .field("asn_enabled", &self.asn.is_some())
            .field("cache_size", &self.cache_size)
            .field("hits", &self.hits)
            .field("misses", &self.misses)
            .finish()
    }
}

impl Clone for GeoLookup {
    fn clone(&self) -> Self {
        GeoLookup::new(self.city.clone(), self.asn.clone(), self.cache_size)
    }
}

fn new_cache<V>(enabled: bool, size: usize) -> Option<LruCache<IpAddr, V>> {
    if !enabled {
        return None;
    }
    NonZeroUsize::new(size).map(LruCache::new)
}

impl GeoLookup {
    fn new(city: Option<Db>, asn: Option<Db>, cache_size: usize) -> Self {
        GeoLookup {
            city_cache: new_cache(city.is_some(), cache_size),
            asn_cache: new_cache(asn.is_some(), cache_size),
            city,
            asn,
            cache_size,
            hits: 0,
            misses: 0,
            empty_location: Arc::new(GeoLocation::default()),
            unknown_location: Arc::new(GeoLocation {
                location: UNKNOWN.to_string(),
                ..GeoLocation::default()
            }),
            empty_asn: Arc::from(""),
            unknown_asn: Arc::from(UNKNOWN),
        }
    }

    /// True when the City database is enabled.
    pub fn city_enabled(&self) -> bool {
        self.city.is_some()
    }

    /// True when the ASN/ISP database is enabled.
    pub fn asn_enabled(&self) -> bool {
        self.asn.is_some()
    }

    /// The City result for `ip` (see [`GeoLocation`]); served from this handle's cache when
    /// it can be. Returns a shared `Arc` (cheap to clone, deref to read the strings).
    pub fn location(&mut self, ip: IpAddr) -> Arc<GeoLocation> {
        let Some(reader) = self.city.as_deref() else {
            return Arc::clone(&self.empty_location);
        };
        if let Some(cache) = self.city_cache.as_mut()
            && let Some(hit) = cache.get(&ip)
        {
            self.hits += 1;
            return Arc::clone(hit);
        }
        self.misses += 1;
        let value = match city_location(reader, ip) {
            Some(loc) => Arc::new(loc),
            None => Arc::clone(&self.unknown_location),
        };
        if let Some(cache) = self.city_cache.as_mut() {
            cache.put(ip, Arc::clone(&value));
        }
        value
    }

    /// The ASN string for `ip` (`"1221/Telstra Pty Ltd"`, `"1221"`, `Unknown`, or `""`
    /// when disabled); served from this handle's cache when it can be. Returns a shared
    /// `Arc<str>`.
    pub fn asn(&mut self, ip: IpAddr) -> Arc<str> {
        let Some(reader) = self.asn.as_deref() else {
            return Arc::clone(&self.empty_asn);
        };
        if let Some(cache) = self.asn_cache.as_mut()
            && let Some(hit) = cache.get(&ip)
        {
            self.hits += 1;
            return Arc::clone(hit);
        }
        self.misses += 1;
        let value = match asn_string(reader, ip) {
            Some(s) => Arc::from(s),
            None => Arc::clone(&self.unknown_asn),
        };
        if let Some(cache) = self.asn_cache.as_mut() {
            cache.put(ip, Arc::clone(&value));
        }
        value
    }

    /// Lookups (City and ASN together) answered from the caches.
    pub fn cache_hits(&self) -> u64 {
        self.hits
    }

    /// Lookups (City and ASN together) that went to a database.
    pub fn cache_misses(&self) -> u64 {
        self.misses
    }
}

/// The City record for `ip`; `None` means "Unknown" (not found or lookup error).
fn city_location(reader: &Reader<Mmap>, ip: IpAddr) -> Option<GeoLocation> {
    let result = reader.lookup(ip).ok()?;
    if !result.has_data() {
        return None;
    }
    let rec: CityRecord<'_> = result.decode().ok()??;
    Some(geo_location(rec))
}

/// Builds the pktvisor location string and coordinates from a decoded City record.
fn geo_location(rec: CityRecord<'_>) -> GeoLocation {
    let mut location = String::new();
    if let Some(Scalar::Str(code)) = rec.continent.0.map(|c| c.code) {
        location.push_str(code);
    }
    if let Some(country) = rec.country.0 {
        // pktvisor falls back to the ISO code only when names.en holds no data at all.
        let en = country.names.0.map(|n| n.en).unwrap_or_default();
        let name = match en {
            Scalar::Absent => country.iso_code,
            other => other,
        };
        push_part(&mut location, name);
    }
    if let Some(sub) = rec.subdivisions.0 {
        push_part(&mut location, sub.iso_code);
    }
    if let Some(city) = rec.city.0 {
        push_part(
            &mut location,
            city.names.0.map(|n| n.en).unwrap_or_default(),
        );
    }
    let (latitude, longitude) = match rec.location.0 {
        Some(l) => (coordinate(l.latitude), coordinate(l.longitude)),
        None => (String::new(), String::new()),
    };
    GeoLocation {
        location,
        latitude,
        longitude,
    }
}

fn push_part(out: &mut String, part: Scalar<'_>) {
    if let Scalar::Str(s) = part {
        out.push('/');
        out.push_str(s);
    }
}

fn coordinate(v: Scalar<'_>) -> String {
    match v {
        Scalar::Float(f) => format!("{f:.6}"),
        _ => String::new(),
    }
}

/// The ASN string for `ip`; `None` means "Unknown" (not found or lookup error).
fn asn_string(reader: &Reader<Mmap>, ip: IpAddr) -> Option<String> {
    let result = reader.lookup(ip).ok()?;
    if !result.has_data() {
        return None;
    }
    let rec: AsnRecord<'_> = result.decode().ok()??;
    let mut out = match rec.autonomous_system_number {
        Scalar::Uint(n) => n.to_string(),
        Scalar::Int(n) => n.to_string(),
        Scalar::Str(s) => s.to_string(),
        _ => String::new(),
    };
    if let Scalar::Str(org) = rec.autonomous_system_organization {
        out.push('/');
        out.push_str(org);
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------
// Lean, lenient record shapes: only the fields pktvisor reads are decoded (everything else
// is skipped without allocating), and a value of an unexpected MMDB type is treated as
// absent, as libmaxminddb's typed MMDB_get_value checks do.

#[derive(Deserialize, Default)]
struct CityRecord<'a> {
    #[serde(borrow, default)]
    continent: MapOrSkip<ContinentRecord<'a>>,
    #[serde(borrow, default)]
    country: MapOrSkip<CountryRecord<'a>>,
    #[serde(borrow, default)]
    subdivisions: FirstSubdivision<'a>,
    #[serde(borrow, default)]
    city: MapOrSkip<NamedRecord<'a>>,
    #[serde(borrow, default)]
    location: MapOrSkip<LocationRecord<'a>>,
}

#[derive(Deserialize, Default)]
struct ContinentRecord<'a> {
    #[serde(borrow, default)]
    code: Scalar<'a>,
}

#[derive(Deserialize, Default)]
struct CountryRecord<'a> {
    #[serde(borrow, default)]
    names: MapOrSkip<EnglishName<'a>>,
    #[serde(borrow, default)]
    iso_code: Scalar<'a>,
}

#[derive(Deserialize, Default)]
struct NamedRecord<'a> {
    #[serde(borrow, default)]
    names: MapOrSkip<EnglishName<'a>>,
}

#[derive(Deserialize, Default)]
struct EnglishName<'a> {
    #[serde(borrow, default)]
    en: Scalar<'a>,
}

#[derive(Deserialize, Default)]
struct SubdivisionRecord<'a> {
    #[serde(borrow, default)]
    iso_code: Scalar<'a>,
}

#[derive(Deserialize, Default)]
struct LocationRecord<'a> {
    #[serde(borrow, default)]
    latitude: Scalar<'a>,
    #[serde(borrow, default)]
    longitude: Scalar<'a>,
}

#[derive(Deserialize, Default)]
struct AsnRecord<'a> {
    #[serde(borrow, default)]
    autonomous_system_number: Scalar<'a>,
    #[serde(borrow, default)]
    autonomous_system_organization: Scalar<'a>,
}

/// A leaf value of any MMDB type, kept only for the types pktvisor reads.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
enum Scalar<'a> {
    /// The key is missing.
    #[default]
    Absent,
    Str(&'a str),
    Uint(u64),
    Int(i64),
    Float(f64),
    /// Present but of another type (bool, bytes, u128, map, array).
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor(PhantomData))
    }
}

struct ScalarVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ScalarVisitor<'a> {
    type Value = Scalar<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any MMDB value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(v))
    }
    fn visit_str<E: de::Error>(self, _v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Uint(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_u128<E: de::Error>(self, _v: u128) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_i128<E: de::Error>(self, _v: i128) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_bool<E: de::Error>(self, _v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_bytes<E: de::Error>(self, _v: &[u8]) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Scalar::deserialize(d)
    }
    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        IgnoredAny::deserialize(d)?;
        Ok(Scalar::Other)
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

/// A map decoded as `T`, or `None` when the value is not a map (skipped).
struct MapOrSkip<T>(Option<T>);

impl<T> Default for MapOrSkip<T> {
    fn default() -> Self {
        MapOrSkip(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for MapOrSkip<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MapOrSkipVisitor(PhantomData))
    }
}

struct MapOrSkipVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for MapOrSkipVisitor<T> {
    type Value = MapOrSkip<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any MMDB value")
    }
    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|v| MapOrSkip(Some(v)))
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(MapOrSkip(None))
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        MapOrSkip::deserialize(d)
    }
    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        IgnoredAny::deserialize(d)?;
        Ok(MapOrSkip(None))
    }
    fn visit_bool<E: de::Error>(self, _v: bool) -> Result<Self::Value, E> {
        Ok(MapOrSkip(None))
    }
    fn visit_i64<E: de::Error>(self, _v: i64) -> Result<Self::Value, E> {
        Ok(MapOrSkip(None))
    }
    fn visit_u64<E: de::Error>(self, _v: u64) -> Result<Self::Value, E> {
        Ok(MapOrSkip(None))
    }
    fn visit_i128<E: de::Error>(self, _v: i128) -> Result<Self::Value, E> {
        Ok(MapOrSkip(None))
    }
    fn visit_u128<E: de::Error>(self, _v: u128) -> Result<Self::Value, E> {
        Ok(MapOrSkip(None))
    }
    fn visit_f64<E: de::Error>(self, _v: f64) -> Result<Self::Value, E> {
        Ok(MapOrSkip(None))
    }
    fn visit_str<E: de::Error>(self, _v: &str) -> Result<Self::Value, E> {
        Ok(MapOrSkip(None))
    }
    fn visit_bytes<E: de::Error>(self, _v: &[u8]) -> Result<Self::Value, E> {
        Ok(MapOrSkip(None))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(MapOrSkip(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(MapOrSkip(None))
    }
}

/// `subdivisions[0]` only: the first element of the array, the rest skipped unallocated.
#[derive(Default)]
struct FirstSubdivision<'a>(Option<SubdivisionRecord<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstSubdivision<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let any = d.deserialize_any(FirstSubdivisionVisitor(PhantomData))?;
        Ok(any)
    }
}

struct FirstSubdivisionVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for FirstSubdivisionVisitor<'a> {
    type Value = FirstSubdivision<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any MMDB value")
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let first = seq
            .next_element::<MapOrSkip<SubdivisionRecord<'a>>>()?
            .and_then(|m| m.0);
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(FirstSubdivision(first))
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(FirstSubdivision(None))
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        FirstSubdivision::deserialize(d)
    }
    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        IgnoredAny::deserialize(d)?;
        Ok(FirstSubdivision(None))
    }
    fn visit_bool<E: de::Error>(self, _v: bool) -> Result<Self::Value, E> {
        Ok(FirstSubdivision(None))
    }
    fn visit_i64<E: de::Error>(self, _v: i64) -> Result<Self::Value, E> {
        Ok(FirstSubdivision(None))
    }
    fn visit_u64<E: de::Error>(self, _v: u64) -> Result<Self::Value, E> {
        Ok(FirstSubdivision(None))
    }
    fn visit_i128<E: de::Error>(self, _v: i128) -> Result<Self::Value, E> {
        Ok(FirstSubdivision(None))
    }
    fn visit_u128<E: de::Error>(self, _v: u128) -> Result<Self::Value, E> {
        Ok(FirstSubdivision(None))
    }
    fn visit_f64<E: de::Error>(self, _v: f64) -> Result<Self::Value, E> {
        Ok(FirstSubdivision(None))
    }
    fn visit_str<E: de::Error>(self, _v: &str) -> Result<Self::Value, E> {
        Ok(FirstSubdivision(None))
    }
    fn visit_bytes<E: de::Error>(self, _v: &[u8]) -> Result<Self::Value, E> {
        Ok(FirstSubdivision(None))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(FirstSubdivision(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(FirstSubdivision(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixtures() -> Option<PathBuf> {
        crate::testdata::pktvisor_fixtures()
    }

    fn open_both(dir: &Path) -> GeoDatabases {
        GeoDatabases::open(
            Some(&dir.join("GeoIP2-City-Test.mmdb")),
            Some(&dir.join("GeoIP2-ISP-Test.mmdb")),
        )
        .expect("fixture databases open")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("valid test address")
    }

    #[test]
    fn city_examples_and_cache_hits() {
        let Some(dir) = fixtures() else { return };
        let dbs = open_both(&dir);
        assert!(dbs.city_enabled() && dbs.asn_enabled());
        let mut geo = dbs.lookup(DEFAULT_CACHE_SIZE);
        assert!(geo.city_enabled() && geo.asn_enabled());
        for round in 0..2u64 {
            let ru = geo.location(ip("2a02:dac0::"));
            assert_eq!(ru.location, "EU/Russia");
            assert_eq!(ru.latitude, "60.000000");
            assert_eq!(ru.longitude, "100.000000");
            let se = geo.location(ip("89.160.20.112"));
            assert_eq!(se.location, "EU/Sweden/E/Linköping");
            assert!(!se.latitude.is_empty() && se.latitude.split('.').nth(1).unwrap().len() == 6);
            let us = geo.location(ip("216.160.83.56"));
            assert_eq!(us.location, "NA/United States/WA/Milton");
            let unknown = geo.location(ip("6.6.6.6"));
            assert_eq!(unknown.location, "Unknown");
            assert_eq!(unknown.latitude, "");
            assert_eq!(unknown.longitude, "");
            // First round: four misses; second round: the same four from the cache.
            assert_eq!(geo.cache_misses(), 4);
            assert_eq!(geo.cache_hits(), 4 * round);
        }
    }

    #[test]
    fn asn_examples_and_cache_hits() {
        let Some(dir) = fixtures() else { return };
        let mut geo = open_both(&dir).lookup(16);
        for round in 0..2u64 {
            assert_eq!(&*geo.asn(ip("1.128.0.0")), "1221/Telstra Pty Ltd");
            assert_eq!(&*geo.asn(ip("2401:8080::")), "237/Merit Network Inc.");
            assert_eq!(&*geo.asn(ip("6.6.6.6")), "Unknown");
            assert_eq!(geo.cache_misses(), 3);
            assert_eq!(geo.cache_hits(), 3 * round);
        }
    }

    #[test]
    fn asn_number_without_organization() {
        let Some(dir) = fixtures() else { return };
        // Find a record in the ISP test DB that has a number but no organization, the way
        // libmaxminddb would see it, and check that only the number is printed.
        let reader = Reader::open_readfile(dir.join("GeoIP2-ISP-Test.mmdb")).unwrap();
        let mut found = None;
        for item in reader.networks(Default::default()).unwrap() {
            let Ok(item) = item else { continue };
            let Ok(Some(rec)) = item.decode::<maxminddb::geoip2::Isp>() else {
                continue;
            };
            if let (Some(n), None) = (
                rec.autonomous_system_number,
                rec.autonomous_system_organization,
            ) {
                found = Some((item.network().unwrap().network(), n));
                break;
            }
        }
        let (addr, number) = found.expect("the ISP test DB has an ASN without organization");
        let mut geo = open_both(&dir).lookup(0);
        assert_eq!(&*geo.asn(addr), number.to_string());
    }

    #[test]
    fn lean_decoder_agrees_with_geoip2_model_on_every_network() {
        let Some(dir) = fixtures() else { return };
        let path = dir.join("GeoIP2-City-Test.mmdb");
        let reader = Reader::open_readfile(&path).unwrap();
        let mut geo = open_both(&dir).lookup(0);
        let mut checked = 0;
        let mut with_continent = 0;
        for item in reader.networks(Default::default()).unwrap() {
            let item = item.unwrap();
            let Some(city) = item.decode::<maxminddb::geoip2::City>().unwrap() else {
                continue;
            };
            let mut expected = city.continent.code.unwrap_or_default().to_string();
            let country = city.country.names.english.or(city.country.iso_code);
            let sub = city.subdivisions.first().and_then(|s| s.iso_code);
            for part in [country, sub, city.city.names.english]
                .into_iter()
                .flatten()
            {
                expected.push('/');
                expected.push_str(part);
            }
            let fmt = |v: Option<f64>| v.map(|f| format!("{f:.6}")).unwrap_or_default();
            let addr = item.network().unwrap().network();
            let got = geo.location(addr);
            assert_eq!(got.location, expected, "{addr}");
            assert_eq!(got.latitude, fmt(city.location.latitude), "{addr}");
            assert_eq!(got.longitude, fmt(city.location.longitude), "{addr}");
            checked += 1;
            with_continent += usize::from(city.continent.code.is_some());
        }
        assert!(checked > 100, "{checked}");
        assert!(with_continent > 0);
    }

    #[test]
    fn location_string_quirks() {
        // Every record of the test DB has a continent, so the quirks are checked on
        // constructed records: a missing continent leaves a leading '/', the country name
        // falls back to its ISO code only when names.en is absent, and values of another
        // type count as absent.
        let rec = CityRecord {
            country: MapOrSkip(Some(CountryRecord {
                names: MapOrSkip(None),
                iso_code: Scalar::Str("SE"),
            })),
            city: MapOrSkip(Some(NamedRecord {
                names: MapOrSkip(Some(EnglishName {
                    en: Scalar::Str("Linköping"),
                })),
            })),
            location: MapOrSkip(Some(LocationRecord {
                latitude: Scalar::Float(-1.5),
                longitude: Scalar::Other,
            })),
            ..CityRecord::default()
        };
        let loc = geo_location(rec);
        assert_eq!(loc.location, "/SE/Linköping");
        assert_eq!(loc.latitude, "-1.500000");
        assert_eq!(loc.longitude, "");

        let rec = CityRecord {
            continent: MapOrSkip(Some(ContinentRecord {
                code: Scalar::Str("EU"),
            })),
            country: MapOrSkip(Some(CountryRecord {
                names: MapOrSkip(Some(EnglishName {
                    en: Scalar::Uint(7),
                })),
                iso_code: Scalar::Str("SE"),
            })),
            subdivisions: FirstSubdivision(Some(SubdivisionRecord {
                iso_code: Scalar::Str("E"),
            })),
            ..CityRecord::default()
        };
        let loc = geo_location(rec);
        assert_eq!(loc.location, "EU/E");
        assert_eq!((loc.latitude.as_str(), loc.longitude.as_str()), ("", ""));
        assert_eq!(geo_location(CityRecord::default()), GeoLocation::default());
    }

    #[test]
    fn asn_agrees_with_isp_model_on_every_network() {
        let Some(dir) = fixtures() else { return };
        let reader = Reader::open_readfile(dir.join("GeoIP2-ISP-Test.mmdb")).unwrap();
        let mut geo = open_both(&dir).lookup(0);
        let mut checked = 0;
        for item in reader.networks(Default::default()).unwrap() {
            let item = item.unwrap();
            let Some(isp) = item.decode::<maxminddb::geoip2::Isp>().unwrap() else {
                continue;
            };
            let mut expected = isp
                .autonomous_system_number
                .map(|n| n.to_string())
                .unwrap_or_default();
            if let Some(org) = isp.autonomous_system_organization {
                expected.push('/');
                expected.push_str(org);
            }
            let addr = item.network().unwrap().network();
            assert_eq!(&*geo.asn(addr), expected, "{addr}");
            checked += 1;
        }
        assert!(checked > 100, "{checked}");
    }

    #[test]
    fn cache_size_zero_disables_cache() {
        let Some(dir) = fixtures() else { return };
        let mut geo = open_both(&dir).lookup(0);
        for _ in 0..3 {
            assert_eq!(geo.location(ip("2a02:dac0::")).location, "EU/Russia");
            assert_eq!(&*geo.asn(ip("1.128.0.0")), "1221/Telstra Pty Ltd");
            assert_eq!(&*geo.asn(ip("6.6.6.6")), "Unknown");
        }
        assert_eq!(geo.cache_hits(), 0);
        assert_eq!(geo.cache_misses(), 9);
        assert!(geo.city_cache.is_none() && geo.asn_cache.is_none());
    }

    #[test]
    fn not_enabled_gives_empty_strings() {
        let mut geo = GeoDatabases::none().lookup(DEFAULT_CACHE_SIZE);
        assert!(!geo.city_enabled() && !geo.asn_enabled());
        assert_eq!(*geo.location(ip("2a02:dac0::")), GeoLocation::default());
        assert_eq!(&*geo.asn(ip("1.128.0.0")), "");
        assert_eq!(geo.cache_hits() + geo.cache_misses(), 0);

        let Some(dir) = fixtures() else { return };
        // Only the City DB: ASN stays disabled, and the other way round.
        let city_only = GeoDatabases::open(Some(&dir.join("GeoIP2-City-Test.mmdb")), None).unwrap();
        assert!(city_only.city_enabled() && !city_only.asn_enabled());
        let mut geo = city_only.lookup(10);
        assert_eq!(
            geo.location(ip("216.160.83.56")).location,
            "NA/United States/WA/Milton"
        );
        assert_eq!(&*geo.asn(ip("1.128.0.0")), "");
        let asn_only = GeoDatabases::open(None, Some(&dir.join("GeoIP2-ISP-Test.mmdb"))).unwrap();
        let mut geo = asn_only.lookup(10);
        assert_eq!(geo.location(ip("216.160.83.56")).location, "");
        assert_eq!(&*geo.asn(ip("1.128.0.0")), "1221/Telstra Pty Ltd");
    }

    #[test]
    fn bad_path_error_text() {
        let err = GeoDatabases::open(Some(Path::new("nonexistent.mmdb")), None).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("nonexistent.mmdb: "), "{text}");
        assert!(text.contains("No such file"), "{text}");

        // A real file that is not a MaxMind DB (the README) fails too, with its path.
        let Some(dir) = fixtures() else { return };
        let readme = dir.join("README.md");
        let err = GeoDatabases::open(None, Some(&readme)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("{}: ", readme.display())),
            "{text}"
        );
        assert!(
            text.len() > readme.display().to_string().len() + 2,
            "{text}"
        );
    }

    #[test]
    fn empty_file_is_an_error_not_a_panic() {
        let path = std::env::temp_dir().join(format!("geo-empty-{}.mmdb", std::process::id()));
        std::fs::write(&path, b"").unwrap();
        let res = GeoDatabases::open(Some(&path), None);
        let _ = std::fs::remove_file(&path);
        let text = res.unwrap_err().to_string();
        assert!(text.starts_with(&format!("{}: ", path.display())), "{text}");
    }

    #[test]
    fn cache_is_bounded() {
        let Some(dir) = fixtures() else { return };
        let mut geo = open_both(&dir).lookup(8);
        for i in 0..100u32 {
            let a = IpAddr::from(std::net::Ipv4Addr::from(0x5900_0000 + i * 0x100));
            geo.location(a);
            geo.asn(a);
            let city = geo.city_cache.as_ref().unwrap();
            let asn = geo.asn_cache.as_ref().unwrap();
            assert!(city.len() <= 8 && asn.len() <= 8);
        }
        assert_eq!(geo.city_cache.as_ref().unwrap().len(), 8);
        assert_eq!(geo.asn_cache.as_ref().unwrap().len(), 8);
        assert_eq!(geo.cache_misses(), 200);
        // The newest address is still cached, the oldest was evicted.
        let newest = IpAddr::from(std::net::Ipv4Addr::from(0x5900_0000 + 99 * 0x100));
        let oldest = IpAddr::from(std::net::Ipv4Addr::from(0x5900_0000));
        geo.location(newest);
        assert_eq!(geo.cache_hits(), 1);
        geo.location(oldest);
        assert_eq!(geo.cache_hits(), 1);
        assert_eq!(geo.cache_misses(), 201);
    }

    #[test]
    fn clone_gives_fresh_caches_and_threads_share_databases() {
        let Some(dir) = fixtures() else { return };
        let dbs = open_both(&dir);
        let mut a = dbs.lookup(100);
        a.location(ip("2a02:dac0::"));
        a.location(ip("2a02:dac0::"));
        assert_eq!((a.cache_hits(), a.cache_misses()), (1, 1));
        let mut b = a.clone();
        assert_eq!((b.cache_hits(), b.cache_misses()), (0, 0));
        assert_eq!(b.location(ip("2a02:dac0::")).location, "EU/Russia");
        assert_eq!((b.cache_hits(), b.cache_misses()), (0, 1));

        let handles: Vec<_> = (0..2)
            .map(|_| {
                let mut h = dbs.lookup(10);
                std::thread::spawn(move || h.asn(ip("1.128.0.0")).to_string())
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), "1221/Telstra Pty Ltd");
        }
    }
}
