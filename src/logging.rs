//! The log filter of the binaries: `PKTVISOR_LOG` (tracing's `EnvFilter` syntax, e.g.
//! `info,pktvisor::receiver=debug`) when set, else `debug` with `-v` or `info`. A value
//! that does not parse is an error naming it, never silently replaced by the default.

use tracing_subscriber::EnvFilter;

/// The environment variable holding the filter.
pub const LOG_ENV: &str = "PKTVISOR_LOG";

/// The filter from `PKTVISOR_LOG`, or the level `-v` selects.
pub fn env_filter(verbose: bool) -> Result<EnvFilter, String> {
    filter_from(std::env::var(LOG_ENV).ok().as_deref(), verbose)
}

/// The filter from a `PKTVISOR_LOG` value (if any), or the level `-v` selects.
pub fn filter_from(value: Option<&str>, verbose: bool) -> Result<EnvFilter, String> {
    match value {
        Some(v) => EnvFilter::try_new(v).map_err(|e| format!("invalid {LOG_ENV} value '{v}': {e}")),
        None => Ok(EnvFilter::new(if verbose { "debug" } else { "info" })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_errors() {
        assert!(filter_from(None, true).is_ok());
        assert!(filter_from(Some("info,pktvisor=debug"), false).is_ok());
        let e = filter_from(Some("pktvisor=loud"), false).unwrap_err();
        assert!(
            e.starts_with("invalid PKTVISOR_LOG value 'pktvisor=loud'"),
            "{e}"
        );
    }
}
