//! Mergeable metric sketches: the core data structures behind every pktvisor
//! metric (distributions/quantiles, rates, heavy hitters, cardinality), plus
//! rendering of distributions as pktvisor's log-bound histograms.
//!
//! Every type is `Clone + Debug + Default` and has `merge(&mut self, &Self)`,
//! so per-minute buckets merge into windows and per-thread shards merge into
//! one view; merging parts gives the same result as feeding the whole stream
//! (exactly where the algorithm is exact).

pub mod cardinality;
pub mod distribution;
pub mod histogram;
pub mod rate;
pub mod topn;

pub use cardinality::Cardinality;
pub use distribution::{Distribution, Downscaled};
pub use rate::Rate;
pub use topn::{TopItem, TopN};
