//! The modes of what `pecd init` and `pecd serve` write, and the start-up check of
//! them. The config (it holds the admin token) and every private key are the owner's
//! alone (0600), and so is the data folder (0700): it holds people's mail and password
//! hashes. Modes are given when a file or folder is created, so no umask and no moment
//! between creation and a `chmod` ever exposes them; files that already exist keep
//! their mode, and [`warn_if_exposed`] names those that others can reach.

use std::fs;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::Context;

use crate::config::Config;

/// Who may read a file `pecd` writes.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Audience {
    /// Certificates, the providers index: anyone (0644 before the umask).
    Public,
    /// Keys, the config: the owner only (0600).
    Owner,
}

/// Creates a folder (and its missing parents) that only its owner may enter.
pub fn create_private_dir(path: &Path) -> anyhow::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// Writes a new file (and its folder), durably, readable by `audience`.
pub fn write_file(path: &Path, bytes: &[u8], audience: Audience) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mode = match audience {
        Audience::Public => 0o644,
        Audience::Owner => 0o600,
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Logs one warning per secret or data file or folder that group or others may access:
/// the config when it holds the admin token, the private keys, the data folder, the
/// database. Missing files are left to the code that opens them.
pub fn warn_if_exposed(config_path: &Path, config: &Config) {
    for path in sensitive_paths(config_path, config) {
        let Ok(metadata) = fs::metadata(&path) else {
            continue;
        };
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = %format!("{mode:o}"),
                "a secret or data file is open to other users; make it {}",
                if metadata.is_dir() { "0700" } else { "0600" }
            );
        }
    }
}

/// The files and folders no other user should reach.
fn sensitive_paths(config_path: &Path, config: &Config) -> Vec<std::path::PathBuf> {
    let c = &config.certificates;
    let mut paths = Vec::new();
    if !config.admin.token.is_empty() {
        paths.push(config_path.to_path_buf());
    }
    paths.extend([
        c.ca.with_extension("key"),
        c.signing_key.clone(),
        c.tls_key.clone(),
    ]);
    paths.extend(c.conservation_key.clone());
    let data = &config.provider.data_dir;
    paths.extend([data.clone(), data.join("pecd.redb"), data.join("blobs")]);
    paths
}
