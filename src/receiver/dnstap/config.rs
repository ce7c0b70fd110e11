//! The dnstap input's config keys (reference §11.2): where the stream comes from
//! (`dnstap_file` > `socket` > `tcp`), with pktvisor's error texts, plus this project's
//! additions `socket_mode` (octal permissions of the unix socket, e.g. `"0660"`),
//! `max_frame_size` (bytes, default 1 MiB) and `idle_timeout` (seconds a sender may stay
//! silent after START, default 300, 0 = never). TCP addresses are `HOST:PORT`, `[V6]:PORT` or a
//! bare IPv6 literal followed by `:PORT`; pktvisor could not take IPv6 literals.

use std::path::PathBuf;

use crate::config::value::{ConfigMap, ConfigValue};

use super::fstrm::DEFAULT_MAX_FRAME;

/// Valid dnstap input config keys.
pub const INPUT_KEYS: &[&str] = &[
    "socket",
    "tcp",
    "dnstap_file",
    "only_hosts",
    "socket_mode",
    "max_frame_size",
    "idle_timeout",
];

/// A TCP listen address as configured (resolved when binding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpSpec {
    /// Host name or address literal (without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl std::fmt::Display for TcpSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl TcpSpec {
    /// Parses `HOST:PORT`, `[V6]:PORT` or `V6:PORT`.
    pub fn parse(text: &str) -> Result<TcpSpec, String> {
        const INVALID: &str = "invalid tcp address specification, use HOST:PORT";
        const UNPARSABLE: &str = "unable to parse tcp address specification, use HOST:PORT";
        let text = text.trim();
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (h, p) = rest.split_once("]:").ok_or(INVALID)?;
            (h, p)
        } else {
            text.rsplit_once(':').ok_or(INVALID)?
        };
        if host.contains(':') && host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(UNPARSABLE.into());
        }
        let port: u16 = port.parse().map_err(|_| UNPARSABLE)?;
        if host.is_empty() {
            return Err(UNPARSABLE.into());
        }
        Ok(TcpSpec {
            host: host.to_string(),
            port,
        })
    }
}

/// Where a dnstap input reads from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnstapSource {
    /// A Frame Streams file (`dnstap_file`).
    File(PathBuf),
    /// A unix socket to listen on (`socket`), with optional permissions.
    Unix {
        /// Socket path.
        path: PathBuf,
        /// Permissions set after binding.
        mode: Option<u32>,
    },
    /// A TCP listener (`tcp`).
    Tcp(TcpSpec),
}

/// A dnstap input's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnstapInput {
    /// The source.
    pub source: DnstapSource,
    /// Largest data frame accepted.
    pub max_frame_size: usize,
    /// How long a sender may stay silent after START (`None`: forever).
    pub idle_timeout: Option<std::time::Duration>,
}

fn text<'a>(cfg: &'a ConfigMap, key: &str) -> Result<Option<&'a str>, String> {
    cfg.get_str(key).map_err(|e| e.to_string())
}

impl DnstapInput {
    /// Reads the input config (keys are validated by the plan; unknown ones are ignored here).
    pub fn from_config(cfg: &ConfigMap) -> Result<DnstapInput, String> {
        let max_frame_size = match cfg.get_u64("max_frame_size").map_err(|e| e.to_string())? {
            None => DEFAULT_MAX_FRAME,
            Some(v) if (64..=(64 << 20)).contains(&v) => {
                usize::try_from(v).unwrap_or(DEFAULT_MAX_FRAME)
            }
            Some(v) => {
                return Err(format!(
                    "max_frame_size must be between 64 and 67108864 bytes, not {v}"
                ));
            }
        };
        let idle_timeout = match cfg.get_u64("idle_timeout").map_err(|e| e.to_string())? {
            None => Some(super::listener::DEFAULT_IDLE_TIMEOUT),
            Some(0) => None,
            Some(v) if v <= 7 * 86_400 => Some(std::time::Duration::from_secs(v)),
            Some(v) => {
                return Err(format!(
                    "idle_timeout must be between 0 and 604800 seconds, not {v}"
                ));
            }
        };
        let mode = match cfg.get("socket_mode") {
            None => None,
            Some(v) => {
                let t = match v {
                    ConfigValue::U64(n) => n.to_string(),
                    ConfigValue::Str(s) => s.clone(),
                    other => {
                        return Err(format!("socket_mode must be an octal string, not {other}"));
                    }
                };
                let m = u32::from_str_radix(t.trim_start_matches("0o"), 8)
                    .ok()
                    .filter(|m| *m <= 0o777)
                    .ok_or_else(|| {
                        format!("socket_mode must be octal permissions like \"0660\", not {t}")
                    })?;
                Some(m)
            }
        };
        let source = if let Some(f) = text(cfg, "dnstap_file")? {
            DnstapSource::File(PathBuf::from(f))
        } else if let Some(s) = text(cfg, "socket")? {
            DnstapSource::Unix {
                path: PathBuf::from(s),
                mode,
            }
        } else if let Some(t) = text(cfg, "tcp")? {
            DnstapSource::Tcp(TcpSpec::parse(t)?)
        } else {
            return Err("config must specify one of: socket, dnstap_file".into());
        };
        Ok(DnstapInput {
            source,
            max_frame_size,
            idle_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> ConfigMap {
        let mut c = ConfigMap::new();
        for (k, v) in pairs {
            c.set(k, ConfigValue::from_scalar_text(v));
        }
        c
    }

    #[test]
    fn sources_in_pktvisor_precedence() {
        let both = cfg(&[
            ("socket", "/tmp/s"),
            ("dnstap_file", "f.dnstap"),
            ("tcp", "a:1"),
        ]);
        assert_eq!(
            DnstapInput::from_config(&both).unwrap().source,
            DnstapSource::File("f.dnstap".into())
        );
        let s = cfg(&[
            ("socket", "/tmp/s"),
            ("tcp", "a:1"),
            ("socket_mode", "0660"),
        ]);
        assert_eq!(
            DnstapInput::from_config(&s).unwrap().source,
            DnstapSource::Unix {
                path: "/tmp/s".into(),
                mode: Some(0o660)
            }
        );
        assert_eq!(
            DnstapInput::from_config(&cfg(&[])).unwrap_err(),
            "config must specify one of: socket, dnstap_file"
        );
        assert!(
            DnstapInput::from_config(&cfg(&[("socket", "x"), ("socket_mode", "999")])).is_err()
        );
        assert!(
            DnstapInput::from_config(&cfg(&[("tcp", "a:1"), ("max_frame_size", "10")])).is_err()
        );
    }

    #[test]
    fn tcp_addresses() {
        let p = |t: &str| TcpSpec::parse(t).map(|s| s.to_string());
        assert_eq!(p("127.0.0.1:6000").unwrap(), "127.0.0.1:6000");
        assert_eq!(p("[::1]:6000").unwrap(), "[::1]:6000");
        assert_eq!(p("::1:6000").unwrap(), "[::1]:6000");
        assert_eq!(p("localhost:53").unwrap(), "localhost:53");
        assert_eq!(
            p("localhost").unwrap_err(),
            "invalid tcp address specification, use HOST:PORT"
        );
        assert_eq!(
            p("localhost:http").unwrap_err(),
            "unable to parse tcp address specification, use HOST:PORT"
        );
        assert!(p(":53").is_err());
        assert!(p("[::1:53").is_err());
    }
}
