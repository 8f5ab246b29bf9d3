//! A PostgreSQL server of the tests' own: Debian's `initdb` and `pg_ctl` in a temporary
//! folder, on a free port, stopped when the tests end. No system service is needed;
//! as root the server runs as the `postgres` user, since PostgreSQL refuses root.

use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

/// A server and the folder it lives in, stopped and removed when dropped.
pub(crate) struct Server {
    port: u16,
    pg_ctl: Command,
    dir: tempfile::TempDir,
}

impl Server {
    /// A running server; `None` (after printing why) where PostgreSQL is not installed
    /// and `PECD_REQUIRE_POSTGRES` is unset. CI sets it, so there a missing server fails.
    pub(crate) fn start() -> Option<Server> {
        let Some(bin) = binaries() else {
            assert!(
                std::env::var_os("PECD_REQUIRE_POSTGRES").is_none(),
                "PECD_REQUIRE_POSTGRES is set but no PostgreSQL is installed"
            );
            eprintln!("SKIP the cluster engine's tests: PostgreSQL (initdb) is not installed");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let root = rustix::process::geteuid().is_root();
        if root {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()));
        }
        let port = free_port();
        let as_owner = |program: &Path| {
            let mut command = if root {
                let mut command = Command::new("runuser");
                command.args(["-u", "postgres", "--"]).arg(program);
                command
            } else {
                Command::new(program)
            };
            command.env("LC_ALL", "C.UTF-8");
            command
        };
        run(as_owner(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "pecd", "-E", "UTF8", "-D"])
            .arg(&data));
        let options = format!(
            "-p {port} -h 127.0.0.1 -k {} -c fsync=off -c max_connections=200",
            dir.path().display()
        );
        let mut pg_ctl = as_owner(&bin.join("pg_ctl"));
        pg_ctl.arg("-D").arg(&data);
        run(Command::new(pg_ctl.get_program())
            .args(pg_ctl.get_args())
            .args(["-w", "-l"])
            .arg(dir.path().join("log"))
            .args(["-o", &options, "start"]));
        Some(Server { port, pg_ctl, dir })
    }

    /// Where the server listens, as the store's `postgres` setting names it.
    pub(crate) fn url(&self) -> String {
        format!("postgresql://pecd@127.0.0.1:{}/postgres", self.port)
    }

    /// The server's log, for a failing test to show.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.pg_ctl.args(["-m", "immediate", "stop"]).output();
    }
}

/// Debian's PostgreSQL programs, newest version first.
fn binaries() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn run(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
