//! Where the test data shared with the other projects lives, for tests and benchmarks.
//!
//! The folder is `$PKTVISOR_SHARED_DIR` when set, else `../shared` next to this crate
//! (`.ci/run` sets the variable when the clone is elsewhere). A test that needs it gets
//! `None` and skips with a note when it is missing, except under `CI=true`, where a missing
//! folder fails the test instead. The same rule applies to external tools.

use std::path::PathBuf;
use std::process::Command;

/// Whether the tests run under `CI=true` (missing tools and data then fail).
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// The shared folder itself, if present.
pub fn shared_root() -> Option<PathBuf> {
    let dir = match std::env::var_os("PKTVISOR_SHARED_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"),
    };
    dir.is_dir().then_some(dir)
}

/// A sub-folder of the shared folder (`fixtures/pktvisor`, `conformance`, `spec`, …);
/// `None` outside CI when missing, a panic under `CI=true`.
pub fn shared(sub: &str) -> Option<PathBuf> {
    if let Some(dir) = shared_root().map(|r| r.join(sub)).filter(|d| d.is_dir()) {
        return Some(dir);
    }
    if in_ci() {
        panic!("shared test data `{sub}` is missing (CI=true); set PKTVISOR_SHARED_DIR");
    }
    eprintln!("note: shared test data `{sub}` is missing; test skipped");
    None
}

/// pktvisor's own fixture captures and databases.
pub fn pktvisor_fixtures() -> Option<PathBuf> {
    shared("fixtures/pktvisor")
}

/// Whether `tool` can be run; a note (or, under `CI=true`, a panic naming the Debian
/// package) when it cannot.
pub fn have_tool(tool: &str, package: &str) -> bool {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if in_ci() {
            panic!("`{tool}` is missing (CI=true); install it: apt-get install -y {package}");
        }
        eprintln!("note: `{tool}` is missing (apt package {package}); test skipped");
    }
    ok
}
