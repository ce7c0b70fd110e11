//! pktvisord: the agent. Live capture on taps, collection policies, pktvisor's REST API
//! and Prometheus endpoint. Settings are layered: built-in defaults < `--config` files
//! (repeatable, later files win) < `PKTVISOR_*` environment < flags.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use pktvisor::agent::config::{self, AgentSettings, Flags};
use pktvisor::agent::otlp_push::{self, OtlpPush};
use pktvisor::agent::{Agent, default_document};

const ABOUT: &str = "pktvisord: network observability agent (pktvisor 4.5 compatible).

IFACE (a name, an address of the interface, or `auto`) creates pktvisor's default tap and
policy `default` (net, dhcp, dns, pcap). --config FILE (repeatable; later files win) adds
the taps and policies of each file; settings come from built-in defaults < visor.config of
the files < PKTVISOR_<KEY> environment variables (e.g. PKTVISOR_PORT=8080) < flags.
Config files may also be collector-style (receivers, processors, exporters, service).

Commands (first argument; they take the same options):
  pktvisord validate --config FILE…   check the configuration, report every problem, exit 1
                                      on any (nothing is opened, bound or started)
  pktvisord print-config --config FILE…   print the effective configuration (secrets redacted)";

/// Command line of pktvisord (reference §12.1).
#[derive(Parser, Debug)]
#[command(name = "pktvisord", disable_version_flag = true, about = ABOUT, long_about = None)]
struct Args {
    /// Interface to capture on (name, IP address or `auto`): creates the default policy.
    iface: Option<String>,
    /// Print the version and exit.
    #[arg(long)]
    version: bool,
    /// Daemonize: fork, setsid, stdio to /dev/null, chdir /.
    #[arg(short = 'd')]
    daemon: bool,
    /// Debug logging.
    #[arg(short = 'v')]
    verbose: bool,
    /// Accepted and ignored: this build sends no usage tracking.
    #[arg(long)]
    no_track: bool,
    /// HTTP bind host [default: localhost].
    #[arg(short = 'l', value_name = "HOST")]
    host: Option<String>,
    /// HTTP port [default: 10853].
    #[arg(short = 'p', value_name = "PORT")]
    port: Option<u16>,
    /// Serve HTTPS (needs --tls-cert and --tls-key).
    #[arg(long)]
    tls: bool,
    /// TLS certificate (PEM).
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Register the admin routes (POST/DELETE of taps and policies, DELETE /api/v1/server).
    #[arg(long)]
    admin_api: bool,
    /// File holding a bearer token every admin (write) route then requires
    /// (env PKTVISOR_ADMIN_TOKEN_FILE).
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    /// Directory dnstap unix sockets may be created in (repeatable; default: anywhere).
    #[arg(long, value_name = "DIR")]
    dnstap_socket_dir: Vec<PathBuf>,
    /// MaxMind GeoIP City database.
    #[arg(long, value_name = "FILE")]
    geo_city: Option<PathBuf>,
    /// MaxMind ASN/ISP database.
    #[arg(long, value_name = "FILE")]
    geo_asn: Option<PathBuf>,
    /// City database used only when no --geo-city / geo_city is set.
    #[arg(long, value_name = "FILE")]
    default_geo_city: Option<PathBuf>,
    /// ASN database used only when no --geo-asn / geo_asn is set.
    #[arg(long, value_name = "FILE")]
    default_geo_asn: Option<PathBuf>,
    /// LRU entries per GeoIP database (0 disables) [default: 10000].
    #[arg(long, value_name = "N")]
    geo_cache_size: Option<u64>,
    /// YAML config file (repeatable; later files win).
    #[arg(long, value_name = "FILE")]
    config: Vec<PathBuf>,
    /// Accepted and ignored: this build has no crash reporter.
    #[arg(long)]
    cp_disable: bool,
    /// Accepted and ignored (crash reporter token).
    #[arg(long, value_name = "T")]
    cp_token: Option<String>,
    /// Accepted and ignored (crash reporter URL).
    #[arg(long, value_name = "U")]
    cp_url: Option<String>,
    /// Accepted and ignored (crash reporter annotation).
    #[arg(long, value_name = "S")]
    cp_custom: Option<String>,
    /// Accepted and ignored (crash reporter path).
    #[arg(long, value_name = "P")]
    cp_path: Option<String>,
    /// Print the built-in inputs and handlers and exit.
    #[arg(long)]
    module_list: bool,
    /// Deprecated and ignored.
    #[arg(long, value_name = "DIR")]
    module_dir: Option<String>,
    /// Log to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    log_file: Option<PathBuf>,
    /// Log to syslog (ident pktvisord, facility daemon).
    #[arg(long)]
    syslog: bool,
    /// Accepted and ignored: Prometheus /metrics is always on.
    #[arg(long)]
    prometheus: bool,
    /// Static Prometheus `instance` label.
    #[arg(long, value_name = "ID")]
    prom_instance: Option<String>,
    /// pktvisor's OTLP/HTTP push (see the README's OpenTelemetry section).
    #[arg(long)]
    otel: bool,
    /// OTLP host [default: localhost].
    #[arg(long, value_name = "H")]
    otel_host: Option<String>,
    /// OTLP path [default: /v1/metrics].
    #[arg(long, value_name = "P")]
    otel_path: Option<String>,
    /// OTLP port [default: 4318].
    #[arg(long, value_name = "N")]
    otel_port: Option<u16>,
    /// OTLP push interval in seconds [default: 60].
    #[arg(long, value_name = "N")]
    otel_interval: Option<u64>,
    /// OTLP over TLS (needs --otel-tls-cert and --otel-tls-key).
    #[arg(long)]
    otel_tls: bool,
    /// OTLP client certificate.
    #[arg(long, value_name = "FILE")]
    otel_tls_cert: Option<PathBuf>,
    /// OTLP client key.
    #[arg(long, value_name = "FILE")]
    otel_tls_key: Option<PathBuf>,
    /// IANA service-name CSV for the flow handler's port names.
    #[arg(long, value_name = "FILE")]
    iana_service_port_registry: Option<PathBuf>,
    /// IANA CSV used only when no registry is set.
    #[arg(long, value_name = "FILE")]
    default_service_registry: Option<PathBuf>,
    /// Default deep_sample_rate for policies without window_config [default: 100].
    #[arg(long, value_name = "N")]
    max_deep_sample: Option<u64>,
    /// Default num_periods for policies without window_config [default: 5].
    #[arg(long, value_name = "P")]
    periods: Option<u64>,
    /// BPF filter of the default policy (with IFACE).
    #[arg(short = 'b', value_name = "BPF")]
    bpf: Option<String>,
    /// host_spec of the default tap (with IFACE).
    #[arg(short = 'H', value_name = "HOSTSPEC")]
    host_spec: Option<String>,
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
        f
    }
}

/// A log sink that sends each line to syslog.
struct Syslog;

impl Write for Syslog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        for line in text.lines().filter(|l| !l.is_empty()) {
            if let Ok(c) = std::ffi::CString::new(line.replace('%', "%%")) {
                // SAFETY: a valid NUL-terminated format string without conversions.
                unsafe { libc::syslog(libc::LOG_INFO, c.as_ptr()) };
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logging(s: &AgentSettings) -> Result<()> {
    let filter = pktvisor::logging::env_filter(s.verbose).map_err(|e| anyhow!(e))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if s.syslog {
        let ident = c"pktvisord";
        // SAFETY: the ident is a static C string that outlives the process's logging.
        unsafe { libc::openlog(ident.as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
        builder
            .with_ansi(false)
            .without_time()
            .with_writer(std::sync::Mutex::new(Syslog))
            .init();
    } else if let Some(p) = &s.log_file {
        let f = pktvisor::files::open_log_file(p)
            .with_context(|| format!("cannot open log file {}", p.display()))?;
        builder
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(f))
            .init();
    } else {
        builder.with_writer(std::io::stdout).init();
    }
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

async fn serve(agent: Arc<Agent>) -> Result<()> {
    Ok(pktvisor::agent::server::serve(agent).await?)
}

fn spawn_signal_handlers(agent: Arc<Agent>) -> Result<()> {
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
        a.shutdown.cancel();
    });
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let a = agent.clone();
            let res = tokio::task::spawn_blocking(move || a.reload()).await;
            match res {
                Ok(Ok(())) => tracing::info!("SIGHUP: configuration reloaded"),
                Ok(Err(e)) => {
                    tracing::error!(
                        "SIGHUP: configuration not reloaded, keeping the running one: {e}"
                    )
                }
                Err(e) => tracing::error!("SIGHUP: reload failed: {e}"),
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
    init_logging(&cfg.settings)?;
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
        spawn_signal_handlers(agent.clone())?;
        let push = OtlpPush::start(&agent, otlp_cfg)?;
        let served = serve(agent.clone()).await;
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
    result
}

/// The agent's options given after a command name (`pktvisord validate …`).
fn command_args(name: &str) -> Result<Args, clap::Error> {
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    argv.remove(1);
    if let Some(first) = argv.first_mut() {
        *first = format!("pktvisord {name}").into();
    }
    Args::try_parse_from(argv)
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

/// `pktvisord validate`: every problem on stderr and exit 1, or a summary and exit 0.
fn validate_command() -> ExitCode {
    let args = match command_args("validate") {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
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
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{} problem(s) found; nothing was started", errors.len());
            ExitCode::from(1)
        }
    }
}

/// `pktvisord print-config`: the effective configuration as YAML.
fn print_config_command() -> ExitCode {
    let args = match command_args("print-config") {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    let cfg = match config::load(&args.config, &args.flags().0) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
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
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("validate") => return validate_command(),
        Some("print-config") => return print_config_command(),
        _ => {}
    }
    if std::env::args().len() <= 1 {
        use clap::CommandFactory;
        let _ = Args::command().print_help();
        return ExitCode::from(1);
    }
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::from(1)
        }
    }
}
