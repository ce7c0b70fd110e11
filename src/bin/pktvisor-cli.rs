//! pktvisor-cli: flags → the terminal UI (`pktvisor::cli`); exit 0 on `q`/Ctrl-C, 1 on an
//! error (not a terminal, bad TLS setup), 2 on bad flags.

use anyhow::Context;
use clap::Parser;
use pktvisor::cli::Args;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.version {
        println!("{}", pktvisor::VISOR_VERSION);
        return Ok(());
    }
    pktvisor::cli::run(&args).with_context(|| format!("pktvisor-cli ({})", args.base_url()))
}
