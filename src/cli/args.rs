//! pktvisor-cli's command line (pktvisor 4.5's flags plus `--interval`) and the REST
//! endpoint it names.

use std::time::Duration;

use clap::Parser;

/// `pktvisor-cli [-p PORT] [-H HOST] [-P POLICY] [--tls] [--tls-noverify] [--interval SECS]`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "pktvisor-cli",
    about = "pktvisor-cli: live terminal UI for pktvisord (reads its REST API)",
    disable_version_flag = true,
    after_help = "Keys: q or Ctrl-C quit · p pause · ? help · ←/→ policy · l policy list · Tab or 1-6 page · ↑/↓ scroll"
)]
pub struct Args {
    /// Query pktvisord metrics webserver on the given port
    #[arg(
        short = 'p',
        long = "port",
        value_name = "PORT",
        default_value_t = 10853
    )]
    pub port: u16,
    /// Query pktvisord metrics webserver on the given host
    #[arg(
        short = 'H',
        long = "host",
        value_name = "HOST",
        default_value = "localhost"
    )]
    pub host: String,
    /// pktvisor policy to query
    #[arg(
        short = 'P',
        long = "policy",
        value_name = "POLICY",
        default_value = "default"
    )]
    pub policy: String,
    /// Use TLS to communicate with pktvisord metrics webserver
    #[arg(long)]
    pub tls: bool,
    /// Do not verify TLS certificate (implies --tls)
    #[arg(long = "tls-noverify")]
    pub tls_noverify: bool,
    /// Seconds between polls (decimals allowed, 0.2 to 60)
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_interval)]
    pub interval: Duration,
    /// Show version
    #[arg(long)]
    pub version: bool,
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(0.2..=60.0).contains(&secs) {
        return Err(format!("{secs} is outside 0.2..60 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

impl Args {
    /// `http://host:port` or `https://host:port` (IPv6 literals bracketed).
    pub fn base_url(&self) -> String {
        let scheme = if self.tls || self.tls_noverify {
            "https"
        } else {
            "http"
        };
        let host = if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{host}:{}", self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("pktvisor-cli").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_are_pktvisors() {
        let a = parse(&[]).unwrap();
        assert_eq!(
            (a.port, a.host.as_str(), a.policy.as_str()),
            (10853, "localhost", "default")
        );
        assert_eq!(a.interval, Duration::from_secs(1));
        assert_eq!(a.base_url(), "http://localhost:10853");
    }

    #[test]
    fn short_flags_and_tls() {
        let a = parse(&["-p", "8080", "-H", "::1", "-P", "edge", "--tls-noverify"]).unwrap();
        assert_eq!(a.base_url(), "https://[::1]:8080");
        assert_eq!(a.policy, "edge");
        let a = parse(&["--tls", "-H", "agent.example"]).unwrap();
        assert_eq!(a.base_url(), "https://agent.example:10853");
    }

    #[test]
    fn interval_is_bounded() {
        assert_eq!(
            parse(&["--interval", "0.5"]).unwrap().interval,
            Duration::from_millis(500)
        );
        assert!(parse(&["--interval", "0"]).is_err());
        assert!(parse(&["--interval", "soon"]).is_err());
        assert!(parse(&["-p", "70000"]).is_err());
    }
}
