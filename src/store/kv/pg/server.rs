//! A PostgreSQL server of the tests' own, started by `tools/postgres.sh` (Debian's
//! `initdb` and `pg_ctl` in a temporary folder, on a free port, no system service)
//! and stopped when dropped.

use std::path::Path;
use std::process::Command;

/// A running server, stopped and its folder removed when dropped.
pub(crate) struct Server {
    url: String,
    dir: tempfile::TempDir,
}

impl Server {
    /// A running server; `None` (after printing why) where PostgreSQL is not installed
    /// and `PECD_REQUIRE_POSTGRES` is unset. CI sets it, so there a missing server fails.
    pub(crate) fn start() -> Option<Server> {
        if !Path::new("/usr/lib/postgresql").is_dir() {
            assert!(
                std::env::var_os("PECD_REQUIRE_POSTGRES").is_none(),
                "PECD_REQUIRE_POSTGRES is set but no PostgreSQL is installed"
            );
            eprintln!("SKIP the cluster engine's tests: PostgreSQL is not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let output = script("start", dir.path()).output().unwrap();
        assert!(
            output.status.success(),
            "tools/postgres.sh start: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let url = String::from_utf8(output.stdout).unwrap().trim().to_string();
        Some(Server { url, dir })
    }

    /// Where the server listens, as the store's `postgres` setting names it.
    pub(crate) fn url(&self) -> String {
        self.url.clone()
    }

    /// The server's log, for a failing test to show.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = script("stop", self.dir.path()).output();
    }
}

fn script(action: &str, dir: &Path) -> Command {
    let mut command = Command::new("bash");
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/postgres.sh"))
        .arg(action)
        .arg(dir);
    command
}
