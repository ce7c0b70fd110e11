//! Configuration: pktvisor's value model, host specs, the taps/policies YAML document, the
//! collector-style configuration, and reading config files of either style.
//!
//! Raw YAML is read into `visor` types with pktvisor's error texts (`collector` compiles the
//! collector style into the same types); `load` reads and merges files; `error` is a
//! problem with its path. The service layer then resolves policies against taps into typed,
//! runnable plans, reporting every problem before anything starts.

pub mod collector;
pub mod error;
pub mod hostspec;
pub mod load;
pub mod value;
pub mod visor;
