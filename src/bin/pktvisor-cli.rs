//! pktvisor-cli: the terminal UI. It arrives with the agent issue; this build prints its
//! usage and version and says so.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--version") {
        println!("{}", pktvisor::VISOR_VERSION);
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "{}\nUsage: pktvisor-cli [-p PORT] [-H HOST] [-P POLICY]\n\nThe terminal UI is not part of this build yet.",
        pktvisor::VISOR_VERSION
    );
    if args.iter().any(|a| a == "-h" || a == "--help") {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
