//! Configuration: pktvisor's value model, host specs, and the taps/policies YAML document.
//!
//! Raw YAML is read into `visor` types with pktvisor's error texts; the service layer then
//! resolves policies against taps into runnable plans.

pub mod hostspec;
pub mod value;
pub mod visor;
