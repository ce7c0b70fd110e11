//! pktvisord: the agent. Live capture, taps, policies and the REST API arrive with the
//! agent issue; this build prints its usage and version and says so.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--version") {
        println!("{}", pktvisor::VISOR_VERSION);
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "{}\nUsage: pktvisord [options] [IFACE]\n\nThe agent (live capture, taps, policies, REST API) is not part of this build yet;\nuse pktvisor-reader to analyze capture files.",
        pktvisor::VISOR_VERSION
    );
    if args.iter().any(|a| a == "-h" || a == "--help") {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
