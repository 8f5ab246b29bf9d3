//! A Garage of the tests' own, started by `tools/garage.sh` (one node in a temporary
//! folder, on free ports, one bucket and one key) and stopped when dropped.

use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

use crate::config::S3Config;

/// A running Garage, stopped and its folder removed when dropped.
pub(crate) struct Garage {
    config: S3Config,
    dir: tempfile::TempDir,
}

impl Garage {
    /// A running Garage; `None` (after printing why) where no `garage` binary is found
    /// and `PECD_REQUIRE_GARAGE` is unset. CI sets it, so there a missing one fails.
    pub(crate) fn start() -> Option<Garage> {
        let Some(binary) = binary() else {
            assert!(
                std::env::var_os("PECD_REQUIRE_GARAGE").is_none(),
                "PECD_REQUIRE_GARAGE is set but neither $PECD_GARAGE nor `garage` on the PATH is there"
            );
            eprintln!(
                "SKIP the object store's tests: no Garage (set PECD_GARAGE or put garage on the PATH)"
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/garage.sh"))
            .arg("start")
            .arg(dir.path())
            .env("PECD_GARAGE", &binary)
            .output()
            .unwrap();
        let printed = String::from_utf8(output.stdout).unwrap();
        let fields: Vec<&str> = printed.split_whitespace().collect();
        let [endpoint, bucket, region, access, secret] = fields[..] else {
            panic!(
                "tools/garage.sh start printed {printed:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        let config = S3Config {
            endpoint: endpoint.to_string(),
            bucket: bucket.to_string(),
            region: region.to_string(),
            access_key: Some(access.to_string()),
            secret_key: Some(secret.to_string()),
        };
        Some(Garage { config, dir })
    }

    /// The store's `s3` setting for the bucket.
    pub(crate) fn config(&self) -> S3Config {
        self.config.clone()
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/garage.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

/// `$PECD_GARAGE`, or `garage` on the PATH.
fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PECD_GARAGE") {
        return Some(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("garage"))
        .find(|path| path.is_file())
}
