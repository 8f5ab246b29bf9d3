//! Write-once files: every file is written to a temporary name, fsynced, made
//! read-only and renamed into place, then its folder is fsynced. A package folder is
//! assembled under a temporary name and renamed into place whole, so a crash leaves
//! either a complete package or an ignorable `.tmp-` folder.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::conservation::ConservationError;

/// Reads a file.
pub fn read(path: &Path) -> Result<Vec<u8>, ConservationError> {
    fs::read(path).map_err(|source| io(format!("reading {}", path.display()), source))
}

/// Writes a new read-only file durably; an existing file is never replaced.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<(), ConservationError> {
    write_once(path, bytes, false)
}

/// Like [`write_new`], readable by the owner only (private keys).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ConservationError> {
    write_once(path, bytes, true)
}

fn write_once(path: &Path, bytes: &[u8], private: bool) -> Result<(), ConservationError> {
    if path.exists() {
        return Err(ConservationError::Exists(path.display().to_string()));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|source| io(format!("creating {}", dir.display()), source))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        let mut permissions = file.metadata()?.permissions();
        permissions.set_readonly(true);
        fs::set_permissions(&temp, permissions)?;
        fs::rename(&temp, path)?;
        fs::File::open(dir)?.sync_all()
    };
    write().map_err(|source| {
        let _ = fs::remove_file(&temp);
        io(format!("writing {}", path.display()), source)
    })
}

/// Writes a new read-only file inside a package folder that is still being assembled:
/// created exclusively, no rename. Nothing is durable yet: [`sync_files`] then
/// [`seal_dirs`] fsync every file and folder, and the package becomes visible only
/// through [`publish_dir`].
pub fn write_in_package(path: &Path, bytes: &[u8]) -> Result<(), ConservationError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|source| io(format!("creating {}", dir.display()), source))?;
    let write = || -> std::io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)?;
        file.write_all(bytes)?;
        let mut permissions = file.metadata()?.permissions();
        permissions.set_readonly(true);
        fs::set_permissions(path, permissions)
    };
    write().map_err(|source| io(format!("writing {}", path.display()), source))
}

/// Fsyncs every file under `root`, from a few threads at once so the file system can
/// commit its journal for several of them together.
pub fn sync_files(root: &Path) -> Result<(), ConservationError> {
    const THREADS: usize = 8;
    let paths: Vec<std::path::PathBuf> = list(root)?.iter().map(|r| root.join(r)).collect();
    let chunk = paths.len().div_ceil(THREADS).max(1);
    let results: Vec<Result<(), ConservationError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    for path in part {
                        fs::File::open(path)
                            .and_then(|file| file.sync_all())
                            .map_err(|source| io(format!("syncing {}", path.display()), source))?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker.join().unwrap_or_else(|_| {
                    Err(ConservationError::Invalid("an fsync thread failed".into()))
                })
            })
            .collect()
    });
    results.into_iter().collect()
}

/// Renames a finished folder into place and fsyncs its parent; fails if the target exists.
pub fn publish_dir(temp: &Path, target: &Path) -> Result<(), ConservationError> {
    if target.exists() {
        return Err(ConservationError::Exists(target.display().to_string()));
    }
    fs::rename(temp, target)
        .map_err(|source| io(format!("publishing {}", target.display()), source))?;
    let parent = target.parent().unwrap_or(Path::new("."));
    fs::File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| io(format!("syncing {}", parent.display()), source))
}

/// Fsyncs and makes read-only every folder under `root` (and `root`), deepest first.
pub fn seal_dirs(root: &Path) -> Result<(), ConservationError> {
    let entries =
        fs::read_dir(root).map_err(|source| io(format!("listing {}", root.display()), source))?;
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            seal_dirs(&entry.path())?;
        }
    }
    let mut permissions = fs::metadata(root)
        .map_err(|source| io(format!("reading {}", root.display()), source))?
        .permissions();
    permissions.set_readonly(true);
    fs::File::open(root)
        .and_then(|dir| dir.sync_all())
        .and_then(|()| fs::set_permissions(root, permissions))
        .map_err(|source| io(format!("sealing {}", root.display()), source))
}

/// Removes a folder that was never published, sealed (read-only) parts and all.
pub fn remove_unpublished(dir: &Path) -> Result<(), ConservationError> {
    let _ = make_writable(dir);
    fs::remove_dir_all(dir).map_err(|source| io(format!("removing {}", dir.display()), source))
}

fn make_writable(root: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(root)?.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            make_writable(&entry.path())?;
        }
    }
    let mut permissions = fs::metadata(root)?.permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    fs::set_permissions(root, permissions)
}

/// Every file under `root`, as paths relative to it with `/` separators, sorted.
pub fn list(root: &Path) -> Result<Vec<String>, ConservationError> {
    let mut out = Vec::new();
    walk(root, "", &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<(), ConservationError> {
    let entries =
        fs::read_dir(dir).map_err(|source| io(format!("listing {}", dir.display()), source))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let relative = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&entry.path(), &relative, out)?;
        } else {
            out.push(relative);
        }
    }
    Ok(())
}

fn io(context: String, source: std::io::Error) -> ConservationError {
    ConservationError::Io { context, source }
}
