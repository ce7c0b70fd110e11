//! pktvisord: the agent. Live capture on taps, collection policies, pktvisor's REST API
//! and Prometheus endpoint. Settings are layered: built-in defaults < `--config` files
//! (repeatable, later files win) < `PKTVISOR_*` environment < flags.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{CommandFactory, FromArgMatches, Parser};
use pktvisor::agent::config::{self, AgentSettings, Flags};
use pktvisor::agent::otlp_push::{self, OtlpPush};
use pktvisor::agent::{Agent, default_document, server};
use pktvisor::ops::caps;
use pktvisor::ops::logging::{self, LogFormat, LogTarget};
use pktvisor::ops::sd_notify::Notifier;

const ABOUT: &str = "Network observability agent: pktvisor 4.5 compatible, OpenTelemetry-native.";

const LONG_ABOUT: &str = "pktvisord: network observability agent (pktvisor 4.5 compatible).

IFACE (a name, an address of the interface, or `auto`) creates pktvisor's default tap and
policy `default` (net, dhcp, dns, pcap). --config FILE (repeatable; later files win) adds
the taps and policies of each file; settings come from built-in defaults < visor.config of
the files < PKTVISOR_<KEY> environment variables (e.g. PKTVISOR_PORT=8080) < flags.
Config files may also be collector-style (receivers, processors, exporters, service).

Commands (first argument; they take the same options):
  pktvisord validate --config FILE…   check the configuration, report every problem, exit 1
                                      on any (nothing is opened, bound or started)
  pktvisord print-config --config FILE…   print the effective configuration (secrets redacted)";

const AFTER_HELP: &str = "Environment:
  PKTVISOR_<KEY>                    any visor.config setting, e.g. PKTVISOR_PORT=8080
  PKTVISOR_LOG                      log filter (tracing syntax, e.g. info,pktvisor::agent=debug)
  PKTVISOR_LOG_FORMAT               text or json (as --log-format)
  OTEL_EXPORTER_OTLP_ENDPOINT       OTLP endpoint; setting it turns the push on
                                    (e.g. http://otel-collector:4317)
  OTEL_EXPORTER_OTLP_PROTOCOL       grpc (default) or http/protobuf
  OTEL_EXPORTER_OTLP_HEADERS        k=v,k2=v2 (percent-encoded values)
  OTEL_EXPORTER_OTLP_TIMEOUT        per-export timeout in ms
  OTEL_EXPORTER_OTLP_COMPRESSION    gzip or none
  OTEL_EXPORTER_OTLP_CERTIFICATE    CA bundle (PEM) to verify the Collector
  OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, OTEL_EXPORTER_OTLP_CLIENT_KEY   mTLS
  OTEL_EXPORTER_OTLP_INSECURE       true: plain text for endpoints without a scheme
  OTEL_EXPORTER_OTLP_METRICS_*      the same per signal (ENDPOINT, PROTOCOL, HEADERS, TIMEOUT,
                                    COMPRESSION, CERTIFICATE, CLIENT_CERTIFICATE, CLIENT_KEY,
                                    INSECURE); wins over the generic variable
  OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE        cumulative, delta or lowmemory
  OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION
                                    base2_exponential_bucket_histogram or explicit_bucket_histogram
  OTEL_METRIC_EXPORT_INTERVAL       push interval in ms (default 60000)
  PKTVISOR_OTLP_RATE_HISTOGRAMS     true: also push the per-second rate histograms
  OTEL_SDK_DISABLED                 true: no OTLP push
  OTEL_SERVICE_NAME                 service.name of the Resource (default pktvisor)
  OTEL_RESOURCE_ATTRIBUTES          k=v,k2=v2 added to the Resource
  K8S_NODE_NAME, K8S_POD_NAME, K8S_NAMESPACE_NAME, K8S_POD_UID
                                    Kubernetes downward API: k8s.* Resource attributes
  NOTIFY_SOCKET                     set by systemd (Type=notify): READY=1 once serving, STOPPING=1

Examples:
  pktvisord eth0                                   default policy on eth0, REST on localhost:10853
  pktvisord -l 0.0.0.0 -p 8080 --config agent.yaml
  OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 pktvisord eth0
  pktvisord completions bash > /etc/bash_completion.d/pktvisord";

const CAPTURE: &str = "Capture";
const REST: &str = "REST API and Prometheus";
const OTLP: &str = "OTLP push (pktvisor's --otel flags; see also OTEL_* below)";
const ENRICH: &str = "Enrichment";
const COMPAT: &str = "pktvisor compatibility";
const LOGGING: &str = "Logging and process";

/// Command line of pktvisord (reference §12.1).
#[derive(Parser, Debug)]
#[command(
    name = "pktvisord",
    disable_version_flag = true,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    subcommand_help_heading = "Subcommands",
    subcommand_value_name = "SUBCOMMAND"
)]
struct Args {
    /// Interface to capture on (name, IP address or `auto`): creates the default policy.
    iface: Option<String>,
    /// Print the version and exit.
    #[arg(long)]
    version: bool,
    /// YAML config file (repeatable; later files win).
    #[arg(long, value_name = "FILE")]
    config: Vec<PathBuf>,
    /// BPF filter of the default policy (with IFACE).
    #[arg(short = 'b', value_name = "BPF", help_heading = CAPTURE)]
    bpf: Option<String>,
    /// host_spec of the default tap (with IFACE): comma-separated CIDRs that are "the host".
    #[arg(short = 'H', value_name = "HOSTSPEC", help_heading = CAPTURE)]
    host_spec: Option<String>,
    /// Default num_periods for policies without window_config [default: 5].
    #[arg(long, value_name = "P", help_heading = CAPTURE)]
    periods: Option<u64>,
    /// Default deep_sample_rate for policies without window_config [default: 100].
    #[arg(long, value_name = "N", help_heading = CAPTURE)]
    max_deep_sample: Option<u64>,
    /// Directory dnstap unix sockets may be created in (repeatable; default: anywhere).
    #[arg(long, value_name = "DIR", help_heading = CAPTURE)]
    dnstap_socket_dir: Vec<PathBuf>,
    /// Workers per input stream [default: the cores the process may use, cgroup quota
    /// respected]; results are the same for any number.
    #[arg(long, value_name = "N", help_heading = CAPTURE)]
    workers: Option<u64>,
    /// HTTP bind host [default: localhost].
    #[arg(short = 'l', value_name = "HOST", help_heading = REST)]
    host: Option<String>,
    /// HTTP port [default: 10853].
    #[arg(short = 'p', value_name = "PORT", help_heading = REST)]
    port: Option<u16>,
    /// Serve HTTPS (needs --tls-cert and --tls-key).
    #[arg(long, help_heading = REST)]
    tls: bool,
    /// TLS certificate (PEM).
    #[arg(long, value_name = "FILE", help_heading = REST)]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "FILE", help_heading = REST)]
    tls_key: Option<PathBuf>,
    /// Register the admin routes (POST/DELETE of taps and policies, DELETE /api/v1/server).
    #[arg(long, help_heading = REST)]
    admin_api: bool,
    /// File holding a bearer token every admin (write) route then requires
    /// (env PKTVISOR_ADMIN_TOKEN_FILE).
    #[arg(long, value_name = "FILE", help_heading = REST)]
    admin_token_file: Option<PathBuf>,
    /// Static Prometheus `instance` label.
    #[arg(long, value_name = "ID", help_heading = REST)]
    prom_instance: Option<String>,
    /// pktvisor's OTLP/HTTP push to http[s]://HOST:PORT/PATH.
    #[arg(long, help_heading = OTLP)]
    otel: bool,
    /// OTLP host [default: localhost].
    #[arg(long, value_name = "H", help_heading = OTLP)]
    otel_host: Option<String>,
    /// OTLP port [default: 4318].
    #[arg(long, value_name = "N", help_heading = OTLP)]
    otel_port: Option<u16>,
    /// OTLP path [default: /v1/metrics].
    #[arg(long, value_name = "P", help_heading = OTLP)]
    otel_path: Option<String>,
    /// OTLP push interval in seconds [default: 60].
    #[arg(long, value_name = "N", help_heading = OTLP)]
    otel_interval: Option<u64>,
    /// OTLP over TLS (needs --otel-tls-cert and --otel-tls-key).
    #[arg(long, help_heading = OTLP)]
    otel_tls: bool,
    /// OTLP client certificate.
    #[arg(long, value_name = "FILE", help_heading = OTLP)]
    otel_tls_cert: Option<PathBuf>,
    /// OTLP client key.
    #[arg(long, value_name = "FILE", help_heading = OTLP)]
    otel_tls_key: Option<PathBuf>,
    /// MaxMind GeoIP City database.
    #[arg(long, value_name = "FILE", help_heading = ENRICH)]
    geo_city: Option<PathBuf>,
    /// MaxMind ASN/ISP database.
    #[arg(long, value_name = "FILE", help_heading = ENRICH)]
    geo_asn: Option<PathBuf>,
    /// City database used only when no --geo-city / geo_city is set.
    #[arg(long, value_name = "FILE", help_heading = ENRICH)]
    default_geo_city: Option<PathBuf>,
    /// ASN database used only when no --geo-asn / geo_asn is set.
    #[arg(long, value_name = "FILE", help_heading = ENRICH)]
    default_geo_asn: Option<PathBuf>,
    /// LRU entries per GeoIP database (0 disables) [default: 10000].
    #[arg(long, value_name = "N", help_heading = ENRICH)]
    geo_cache_size: Option<u64>,
    /// IANA service-name CSV for the flow handler's port names.
    #[arg(long, value_name = "FILE", help_heading = ENRICH)]
    iana_service_port_registry: Option<PathBuf>,
    /// IANA CSV used only when no registry is set.
    #[arg(long, value_name = "FILE", help_heading = ENRICH)]
    default_service_registry: Option<PathBuf>,
    /// Debug logging.
    #[arg(short = 'v', help_heading = LOGGING)]
    verbose: bool,
    /// Log format: text, or JSON lines for log collectors.
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        env = "PKTVISOR_LOG_FORMAT",
        default_value = "text",
        hide_env = true,
        help_heading = LOGGING
    )]
    log_format: LogFormat,
    /// Log to this file instead of stdout.
    #[arg(long, value_name = "FILE", help_heading = LOGGING)]
    log_file: Option<PathBuf>,
    /// Log to syslog (ident pktvisord, facility daemon).
    #[arg(long, help_heading = LOGGING)]
    syslog: bool,
    /// Daemonize: fork, setsid, stdio to /dev/null, chdir / (not for systemd or containers).
    #[arg(short = 'd', help_heading = LOGGING)]
    daemon: bool,
    /// Print the built-in inputs and handlers and exit.
    #[arg(long, help_heading = COMPAT)]
    module_list: bool,
    /// Accepted and ignored: this build sends no usage tracking.
    #[arg(long, hide = true)]
    no_track: bool,
    /// Accepted and ignored: this build has no crash reporter.
    #[arg(long, hide = true)]
    cp_disable: bool,
    /// Accepted and ignored (crash reporter token).
    #[arg(long, value_name = "T", hide = true)]
    cp_token: Option<String>,
    /// Accepted and ignored (crash reporter URL).
    #[arg(long, value_name = "U", hide = true)]
    cp_url: Option<String>,
    /// Accepted and ignored (crash reporter annotation).
    #[arg(long, value_name = "S", hide = true)]
    cp_custom: Option<String>,
    /// Accepted and ignored (crash reporter path).
    #[arg(long, value_name = "P", hide = true)]
    cp_path: Option<String>,
    /// Deprecated and ignored.
    #[arg(long, value_name = "DIR", hide = true)]
    module_dir: Option<String>,
    /// Accepted and ignored: Prometheus /metrics is always on.
    #[arg(long, hide = true)]
    prometheus: bool,
}

impl Args {
    fn flags(&self) -> Flags {
        let mut f = Flags::default();
        f.on("daemon", self.daemon);
        f.on("verbose", self.verbose);
        f.on("no_track", self.no_track);
        f.opt("host", self.host.clone());
        f.opt("port", self.port);
        f.on("tls", self.tls);
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        f.opt("tls_cert", path(&self.tls_cert));
        f.opt("tls_key", path(&self.tls_key));
        f.on("admin_api", self.admin_api);
        f.opt("admin_token_file", path(&self.admin_token_file));
        if !self.dnstap_socket_dir.is_empty() {
            let dirs: Vec<String> = self
                .dnstap_socket_dir
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            f.set("dnstap_socket_dirs", dirs);
        }
        f.opt("geo_city", path(&self.geo_city));
        f.opt("geo_asn", path(&self.geo_asn));
        f.opt("default_geo_city", path(&self.default_geo_city));
        f.opt("default_geo_asn", path(&self.default_geo_asn));
        f.opt("geo_cache_size", self.geo_cache_size);
        f.on("cp_disable", self.cp_disable);
        f.opt("cp_token", self.cp_token.clone());
        f.opt("cp_url", self.cp_url.clone());
        f.opt("cp_custom", self.cp_custom.clone());
        f.opt("cp_path", self.cp_path.clone());
        f.on("module_list", self.module_list);
        f.opt("module_dir", self.module_dir.clone());
        f.opt("log_file", path(&self.log_file));
        f.on("syslog", self.syslog);
        f.on("prometheus", self.prometheus);
        f.opt("prom_instance", self.prom_instance.clone());
        f.on("otel", self.otel);
        f.opt("otel_host", self.otel_host.clone());
        f.opt("otel_path", self.otel_path.clone());
        f.opt("otel_port", self.otel_port);
        f.opt("otel_interval", self.otel_interval);
        f.on("otel_tls", self.otel_tls);
        f.opt("otel_tls_cert", path(&self.otel_tls_cert));
        f.opt("otel_tls_key", path(&self.otel_tls_key));
        f.opt(
            "iana_service_port_registry",
            path(&self.iana_service_port_registry),
        );
        f.opt(
            "default_service_registry",
            path(&self.default_service_registry),
        );
        f.opt("max_deep_sample", self.max_deep_sample);
        f.opt("periods", self.periods);
        f.opt("workers", self.workers);
        f
    }
}

fn init_logging(s: &AgentSettings, format: LogFormat) -> Result<()> {
    let filter = logging::env_filter(s.verbose).map_err(|e| anyhow!(e))?;
    let target = if s.syslog {
        LogTarget::Syslog(c"pktvisord")
    } else if let Some(p) = &s.log_file {
        LogTarget::File(p.clone())
    } else {
        LogTarget::Stdout
    };
    logging::init(format, &target, filter)?;
    Ok(())
}

fn daemonize() -> Result<()> {
    // SAFETY: called before any thread is started; the parent exits at once.
    unsafe {
        match libc::fork() {
            -1 => bail!("fork failed: {}", std::io::Error::last_os_error()),
            0 => {}
            _ => libc::_exit(0),
        }
        if libc::setsid() < 0 {
            bail!("setsid failed: {}", std::io::Error::last_os_error());
        }
        let root = c"/";
        libc::chdir(root.as_ptr());
        let null = c"/dev/null";
        let fd = libc::open(null.as_ptr(), libc::O_RDWR);
        if fd >= 0 {
            for target in 0..3 {
                libc::dup2(fd, target);
            }
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
    Ok(())
}

fn module_list() {
    for input in pktvisor::receiver::INPUTS {
        for alias in input.names {
            println!("input: {alias} version 1.0");
        }
    }
    for k in pktvisor::processor::KINDS {
        println!("handler: {} version {}", k.handler_type, k.version);
    }
}

fn check_crashpad(s: &AgentSettings) -> Result<()> {
    let given = [&s.cp_token, &s.cp_url, &s.cp_path];
    if given.iter().any(|v| v.is_some()) && !given.iter().all(|v| v.is_some()) {
        bail!("missing information to setup crashpad");
    }
    Ok(())
}

async fn serve(agent: Arc<Agent>, notifier: Option<Arc<Notifier>>) -> Result<()> {
    // The inputs were started by Agent::start; once the port is bound the agent serves.
    let a = agent.clone();
    let ready = move |scheme: &str, addr: std::net::SocketAddr| {
        if let Some(n) = &notifier {
            let inputs = a.ready().1.len();
            if let Err(e) = n.ready(&format!("serving {scheme}://{addr}, {inputs} input(s)")) {
                tracing::warn!("{e}");
            }
        }
    };
    Ok(server::serve(agent, ready).await?)
}

fn spawn_signal_handlers(agent: Arc<Agent>, notifier: Option<Arc<Notifier>>) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let a = agent.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = int.recv() => tracing::info!("SIGINT: stopping"),
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        }
        tracing::info!("Shutting down");
        a.shutdown.cancel();
    });
    if let Some(n) = notifier.clone() {
        // Every way of stopping (signals, DELETE /api/v1/server) cancels this token.
        let stop = agent.shutdown.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            if let Err(e) = n.stopping() {
                tracing::warn!("{e}");
            }
        });
    }
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            if let Some(n) = &notifier {
                let _ = n.reloading();
            }
            let a = agent.clone();
            let res = tokio::task::spawn_blocking(move || a.reload()).await;
            let status = match res {
                Ok(Ok(())) => {
                    tracing::info!("SIGHUP: configuration reloaded");
                    "configuration reloaded".to_string()
                }
                Ok(Err(e)) => {
                    tracing::error!(
                        "SIGHUP: configuration not reloaded, keeping the running one: {e}"
                    );
                    "reload failed, running the previous configuration".to_string()
                }
                Err(e) => {
                    tracing::error!("SIGHUP: reload failed: {e}");
                    "reload failed".to_string()
                }
            };
            if let Some(n) = &notifier {
                let _ = n.ready(&status);
            }
        }
    });
    Ok(())
}

fn run(args: Args) -> Result<()> {
    if args.version {
        println!("{}", pktvisor::VISOR_VERSION);
        return Ok(());
    }
    let cfg = config::load(&args.config, &args.flags().0).map_err(|e| anyhow!("{e}"))?;
    if cfg.settings.module_list {
        module_list();
        return Ok(());
    }
    check_crashpad(&cfg.settings)?;
    if cfg.settings.module_dir.is_some() {
        eprintln!("--module-dir is deprecated and ignored");
    }
    if (args.bpf.is_some() || args.host_spec.is_some()) && args.iface.is_none() {
        eprintln!("-b and -H apply only with IFACE; ignored");
    }
    let extra = args.iface.as_deref().map(|iface| {
        default_document(
            iface,
            args.bpf.as_deref(),
            args.host_spec.as_deref(),
            &cfg.settings,
        )
    });
    if extra.is_none() && cfg.definitions.policies.is_empty() && !cfg.settings.admin_api {
        bail!("Nothing to do: specify --admin-api, IFACE, or --config with policies.");
    }
    if cfg.settings.daemon {
        daemonize()?;
    }
    // File capabilities (`setcap cap_net_raw,cap_net_admin=ip`) are only permitted until
    // raised; no thread exists yet, so every later thread inherits them.
    let caps = caps::raise_permitted(&[caps::CAP_NET_RAW, caps::CAP_NET_ADMIN]);
    init_logging(&cfg.settings, args.log_format)?;
    match caps {
        Ok(c) => tracing::debug!(
            "capabilities: CAP_NET_RAW {}, CAP_NET_ADMIN {}",
            c.has_effective(caps::CAP_NET_RAW),
            c.has_effective(caps::CAP_NET_ADMIN)
        ),
        Err(e) => tracing::warn!("cannot raise capabilities: {e}"),
    }
    let notifier = match Notifier::from_env() {
        Ok(n) => n.map(Arc::new),
        Err(e) => {
            tracing::warn!("{e}");
            None
        }
    };
    let agent = Arc::new(Agent::start(cfg, extra).map_err(|e| anyhow!("{e}"))?);
    let otlp_cfg = match otlp_push::resolve(&agent) {
        Ok(c) => c,
        Err(e) => {
            agent.stop();
            bail!("{e}");
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(pktvisor::agent::server::MAX_BLOCKING_THREADS)
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        spawn_signal_handlers(agent.clone(), notifier.clone())?;
        let push = OtlpPush::start(&agent, otlp_cfg)?;
        let served = serve(agent.clone(), notifier).await;
        // Upstream first: receivers stop, the last readings are pushed, then the workers.
        let a = agent.clone();
        let _ = tokio::task::spawn_blocking(move || a.stop_inputs()).await;
        if let Some(p) = push {
            p.shutdown(&agent, Duration::from_secs(5)).await;
        }
        served
    });
    let a = agent.clone();
    rt.block_on(async {
        let _ = tokio::task::spawn_blocking(move || a.stop()).await;
    });
    rt.shutdown_timeout(Duration::from_secs(2));
    tracing::info!("stopped");
    if result.is_ok() {
        tracing::info!("exit with success");
    }
    result
}

// ---- subcommands ---------------------------------------------------------------------
//
// IFACE is a positional argument, so subcommands are clap subcommands of the same
// command: a first word naming one runs it, any other word is IFACE (`pktvisord eth0`).

/// A subcommand: its clap definition (the name comes from it) and what runs it.
struct Subcommand {
    command: fn() -> clap::Command,
    run: fn(&clap::ArgMatches) -> Result<ExitCode>,
}

/// Every subcommand of pktvisord. Adding one is one line here, plus its arguments and
/// function.
const SUBCOMMANDS: &[Subcommand] = &[
    Subcommand {
        command: ValidateArgs::command,
        run: validate_command,
    },
    Subcommand {
        command: PrintConfigArgs::command,
        run: print_config_command,
    },
    Subcommand {
        command: CompletionsArgs::command,
        run: completions,
    },
    Subcommand {
        command: ManArgs::command,
        run: man,
    },
];

/// The whole command line: the agent's arguments and every subcommand.
fn cli() -> clap::Command {
    SUBCOMMANDS
        .iter()
        .fold(Args::command(), |c, s| c.subcommand((s.command)()))
        .args_conflicts_with_subcommands(true)
        .disable_help_subcommand(true)
}

/// Print a shell completion script for pktvisord.
#[derive(Parser, Debug)]
#[command(
    name = "completions",
    about = "Print a shell completion script (bash, zsh, fish, elvish, powershell)",
    after_help = "Examples:\n  pktvisord completions bash > /etc/bash_completion.d/pktvisord\n  pktvisord completions zsh > \"${fpath[1]}/_pktvisord\"\n  pktvisord completions fish > ~/.config/fish/completions/pktvisord.fish"
)]
struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

fn completions(m: &clap::ArgMatches) -> Result<ExitCode> {
    let a = CompletionsArgs::from_arg_matches(m)?;
    let mut out = std::io::stdout().lock();
    clap_complete::generate(a.shell, &mut cli(), "pktvisord", &mut out);
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Write the man pages (roff) of pktvisord and its subcommands (scripts/gen-man.sh).
#[derive(Parser, Debug)]
#[command(name = "man", hide = true, about = "Write the man pages of pktvisord")]
struct ManArgs {
    /// Output directory (pktvisord.1, pktvisord-<subcommand>.1).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
}

fn man(m: &clap::ArgMatches) -> Result<ExitCode> {
    let a = ManArgs::from_arg_matches(m)?;
    std::fs::create_dir_all(&a.dir).with_context(|| format!("{}", a.dir.display()))?;
    let cmd = cli().version(env!("CARGO_PKG_VERSION"));
    clap_mangen::generate_to(cmd, &a.dir)
        .with_context(|| format!("writing man pages to {}", a.dir.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// The IFACE default policy of `args`, if IFACE was given.
fn iface_document(
    args: &Args,
    s: &AgentSettings,
) -> Option<pktvisor::config::visor::VisorDocument> {
    args.iface
        .as_deref()
        .map(|iface| default_document(iface, args.bpf.as_deref(), args.host_spec.as_deref(), s))
}

/// Check the configuration without starting anything.
#[derive(Parser, Debug)]
#[command(
    name = "validate",
    about = "Check the configuration (files of either style, environment, flags, IFACE) and report every problem; nothing is opened, bound or started",
    after_help = "Exit 0 when the configuration would start, 1 with every problem on stderr.\n\nExample:\n  pktvisord validate --config /etc/pktvisor/pktvisord.yaml --config site.yaml"
)]
struct ValidateArgs {
    #[command(flatten)]
    agent: Args,
}

/// Print the effective configuration.
#[derive(Parser, Debug)]
#[command(
    name = "print-config",
    about = "Print the effective configuration (every layer applied, secrets redacted)"
)]
struct PrintConfigArgs {
    #[command(flatten)]
    agent: Args,
}

/// `pktvisord validate`: every problem on stderr and exit 1, or a summary and exit 0.
fn validate_command(m: &clap::ArgMatches) -> Result<ExitCode> {
    let args = ValidateArgs::from_arg_matches(m)?.agent;
    let result = pktvisor::agent::check::validate(
        &args.config,
        &args.flags().0,
        &|s| iface_document(&args, s),
        &|k| std::env::var(k).ok(),
    );
    match result {
        Ok(s) => {
            println!(
                "configuration is valid: {} taps, {} policies, {} input streams",
                s.taps, s.policies, s.streams
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{} problem(s) found; nothing was started", errors.len());
            Ok(ExitCode::from(1))
        }
    }
}

/// `pktvisord print-config`: the effective configuration as YAML.
fn print_config_command(m: &clap::ArgMatches) -> Result<ExitCode> {
    let args = PrintConfigArgs::from_arg_matches(m)?.agent;
    let cfg = match config::load(&args.config, &args.flags().0) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    let mut defs = cfg.definitions.clone();
    if let Some(doc) = iface_document(&args, &cfg.settings) {
        defs.taps.extend(doc.taps);
        defs.policies.extend(doc.policies);
    }
    match pktvisor::agent::check::effective_config(&cfg.settings, &defs, &cfg.loaded) {
        Ok(text) => {
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn main() -> ExitCode {
    if std::env::args().len() <= 1 {
        let _ = cli().print_help();
        return ExitCode::from(1);
    }
    let matches = cli().get_matches();
    let result = match matches.subcommand() {
        Some((name, sub)) => SUBCOMMANDS
            .iter()
            .find(|s| (s.command)().get_name() == name)
            .map_or_else(
                || Err(anyhow!("unknown subcommand {name}")),
                |s| (s.run)(sub),
            ),
        None => Args::from_arg_matches(&matches)
            .map_err(anyhow::Error::from)
            .and_then(run)
            .map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::from(1)
        }
    }
}
