//! The pacchetto di distribuzione (DIP, esibizione): a ZIP holding, for one mailbox,
//! every archival package (bag, index, signatures, time stamps, rapporti di
//! versamento) as stored, plus `pdd.json` naming them with the SHA-256 of each
//! `tagmanifest-sha256.txt`. With a password every entry is AES-256 (WinZip AE-2; opens
//! in 7-Zip and bsdtar, not Info-ZIP `unzip`). The password is checked against the
//! policy (8+ characters with upper, lower, digit and special) and never stored.
//!
//! [`verify_package`] checks such a ZIP offline: extracts it to a private temporary
//! folder (names that would escape it are refused) and audits every package in it.

use std::io::Read;
use std::io::Write;
use std::path::Path;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::Deserialize;
use serde::Serialize;
use zip::AesMode;
use zip::CompressionMethod;
use zip::write::FileOptions;
use zip::write::SimpleFileOptions;

use crate::conservation::ConservationError;
use crate::conservation::archive::PackageRecord;
use crate::conservation::audit;
use crate::conservation::files;
use crate::conservation::sha256_hex;

/// The distribution manifest.
pub const MANIFEST: &str = "pdd.json";
/// Most bytes one entry may expand to when verifying (a guard against ZIP bombs).
pub const MAX_ENTRY_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// `pdd.json`.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Manifest {
    /// The mailbox.
    pub mailbox: String,
    /// When the export was made.
    pub created: Timestamp,
    /// Packages: id and the SHA-256 of its `tagmanifest-sha256.txt`.
    pub packages: Vec<(String, String)>,
}

/// A revocation export, as recorded: a full export made when conservation is revoked,
/// downloadable for 30 days.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Revocation {
    /// The mailbox.
    pub mailbox: String,
    /// The export file.
    pub file: PathBuf,
    /// When it was made.
    pub created: Timestamp,
    /// When the download link stops working.
    pub expires: Timestamp,
}

/// Why a password is refused; `None` when it meets the policy: at least 8 characters,
/// with an upper-case letter, a lower-case letter, a digit and a special character.
pub fn password_problem(password: &str) -> Option<&'static str> {
    let has = |test: fn(char) -> bool| password.chars().any(test);
    if password.chars().count() < 8 {
        Some("the password must have at least 8 characters")
    } else if !has(char::is_uppercase) || !has(char::is_lowercase) {
        Some("the password needs upper- and lower-case letters")
    } else if !has(|c| c.is_ascii_digit()) {
        Some("the password needs a digit")
    } else if !has(|c| !c.is_alphanumeric()) {
        Some("the password needs a special character")
    } else {
        None
    }
}

/// Writes the export of `packages` (stored under `root`) to `output`: written beside
/// it under a temporary name, synced, then renamed, so `output` is whole or absent.
pub fn export(
    root: &Path,
    mailbox: &str,
    packages: &[PackageRecord],
    output: &Path,
    password: Option<&str>,
    now: Timestamp,
) -> Result<Manifest, ConservationError> {
    if let Some(problem) = password.and_then(password_problem) {
        return Err(ConservationError::Invalid(problem.to_string()));
    }
    let temp = temporary_beside(output);
    let file = std::fs::File::create(&temp).map_err(|source| ConservationError::Io {
        context: format!("creating {}", temp.display()),
        source,
    })?;
    let mut zip = zip::ZipWriter::new(file);
    let options = entry_options(password);
    let manifest = Manifest {
        mailbox: mailbox.to_string(),
        created: now,
        packages: packages
            .iter()
            .map(|record| (record.id.clone(), record.tagmanifest_sha256.clone()))
            .collect(),
    };
    for record in packages {
        let package = root.join(&record.id);
        for relative in files::list(&package)? {
            let bytes = files::read(&package.join(&relative))?;
            let name = format!("{}/{relative}", record.id);
            add_entry(&mut zip, &name, &bytes, options)?;
        }
    }
    let json = serde_json::to_vec_pretty(&manifest)?;
    add_entry(&mut zip, MANIFEST, &json, options)?;
    let file = zip.finish().map_err(zip_failure)?;
    file.sync_all()
        .and_then(|()| std::fs::rename(&temp, output))
        .map_err(|source| {
            let _ = std::fs::remove_file(&temp);
            ConservationError::Io {
                context: format!("writing {}", output.display()),
                source,
            }
        })?;
    Ok(manifest)
}

/// A temporary name for `output` in its own folder (so the final rename stays on one
/// file system).
fn temporary_beside(output: &Path) -> PathBuf {
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    dir.join(format!(".{name}.tmp-{}", std::process::id()))
}

/// Every entry's options: deflated, read-only, AES-256 with a password.
fn entry_options(password: Option<&str>) -> FileOptions<'_, 'static, ()> {
    let base = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .large_file(true)
        .unix_permissions(0o444);
    match password {
        Some(password) => base.with_aes_encryption(AesMode::Aes256, password),
        None => base,
    }
}

/// Adds the entry `name` holding `bytes`.
fn add_entry(
    zip: &mut zip::ZipWriter<std::fs::File>,
    name: &str,
    bytes: &[u8],
    options: FileOptions<'_, 'static, ()>,
) -> Result<(), ConservationError> {
    zip.start_file(name, options).map_err(zip_failure)?;
    zip.write_all(bytes)
        .map_err(|source| ConservationError::Io {
            context: "writing the ZIP".into(),
            source,
        })
}

/// A failure of the ZIP writer, named as the export's.
fn zip_failure(source: zip::result::ZipError) -> ConservationError {
    ConservationError::Zip {
        context: "writing the ZIP".into(),
        source,
    }
}

/// What verifying an export found.
#[derive(Clone, Debug, Default)]
pub struct Verified {
    /// Packages checked.
    pub packages: Vec<String>,
    /// Problems; empty when everything holds.
    pub problems: Vec<String>,
}

/// Checks an exported ZIP offline: every entry extracts (with `password` when
/// encrypted), every package's bag, index, signatures and time stamp hold, and
/// `pdd.json` names exactly the packages present with their tag manifest checksums.
/// Signatures and time stamps must chain to `anchors`; with none, to the CA certificate
/// the package carries (a consistency check: trusting that CA is the reader's call).
pub fn verify_package(
    file: &Path,
    password: Option<&str>,
    anchors: &[openssl::x509::X509],
) -> Result<Verified, ConservationError> {
    let scratch = scratch_dir()?;
    let result = verify_in(file, password, anchors, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn verify_in(
    file: &Path,
    password: Option<&str>,
    anchors: &[openssl::x509::X509],
    scratch: &Path,
) -> Result<Verified, ConservationError> {
    let mut verified = Verified::default();
    extract(file, password, scratch, &mut verified.problems)?;
    let manifest: Option<Manifest> = std::fs::read(scratch.join(MANIFEST))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let Some(manifest) = manifest else {
        verified
            .problems
            .push(format!("{MANIFEST}: missing or unreadable"));
        return Ok(verified);
    };
    check_packages(&manifest, scratch, anchors, &mut verified)?;
    Ok(verified)
}

/// Extracts every entry of the ZIP into `scratch`; an entry whose name would leave it
/// is a problem, not a file.
fn extract(
    file: &Path,
    password: Option<&str>,
    scratch: &Path,
    problems: &mut Vec<String>,
) -> Result<(), ConservationError> {
    let reader = std::fs::File::open(file).map_err(|source| ConservationError::Io {
        context: format!("opening {}", file.display()),
        source,
    })?;
    let mut archive = zip::ZipArchive::new(reader).map_err(|source| ConservationError::Zip {
        context: format!("{} is not a ZIP", file.display()),
        source,
    })?;
    for n in 0..archive.len() {
        let entry = match password {
            Some(password) => archive.by_index_decrypt(n, password.as_bytes()),
            None => archive.by_index(n),
        };
        let mut entry = entry.map_err(|e| entry_error(n, e))?;
        let Some(name) = entry.enclosed_name() else {
            problems.push(format!("entry {:?} has an unsafe name", entry.name()));
            continue;
        };
        if entry.is_dir() {
            continue;
        }
        let mut bytes = Vec::new();
        (&mut entry)
            .take(MAX_ENTRY_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| {
                ConservationError::Invalid(format!(
                    "{}: {e} (damaged or wrong password)",
                    name.display()
                ))
            })?;
        write_extracted(&scratch.join(&name), &bytes)?;
    }
    Ok(())
}

/// Why an entry cannot be opened, in the words the operator needs.
fn entry_error(n: usize, error: zip::result::ZipError) -> ConservationError {
    match error {
        zip::result::ZipError::InvalidPassword => {
            ConservationError::Invalid("wrong password".to_string())
        }
        zip::result::ZipError::UnsupportedArchive(what) if what.contains("Password") => {
            ConservationError::Invalid("the package is encrypted: use --password-stdin".into())
        }
        source => ConservationError::Zip {
            context: format!("entry {n}"),
            source,
        },
    }
}

fn write_extracted(target: &Path, bytes: &[u8]) -> Result<(), ConservationError> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|source| ConservationError::Io {
            context: format!("creating {}", parent.display()),
            source,
        })?;
    }
    std::fs::write(target, bytes).map_err(|source| ConservationError::Io {
        context: format!("writing {}", target.display()),
        source,
    })
}

/// Audits every package `pdd.json` names, and reports packages it does not name.
fn check_packages(
    manifest: &Manifest,
    scratch: &Path,
    anchors: &[openssl::x509::X509],
    verified: &mut Verified,
) -> Result<(), ConservationError> {
    let mut present: Vec<String> = std::fs::read_dir(scratch)
        .map_err(|source| ConservationError::Io {
            context: "listing the extracted package".into(),
            source,
        })?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    present.sort();
    for (id, pinned) in &manifest.packages {
        let dir = scratch.join(id);
        if !dir.is_dir() {
            verified
                .problems
                .push(format!("{id}: named in {MANIFEST} but absent"));
            continue;
        }
        for problem in audit::check_package(&dir, anchors, Some(pinned)) {
            verified.problems.push(format!("{id}: {problem}"));
        }
        verified.packages.push(id.clone());
    }
    for id in present {
        if !manifest.packages.iter().any(|(p, _)| *p == id) {
            verified
                .problems
                .push(format!("{id}: present but not named in {MANIFEST}"));
        }
    }
    Ok(())
}

fn scratch_dir() -> Result<PathBuf, ConservationError> {
    let mut random = [0u8; 8];
    openssl::rand::rand_bytes(&mut random)?;
    let dir = std::env::temp_dir().join(format!(
        "pecd-verify-{}",
        sha256_hex(&random).get(..16).unwrap_or("x")
    ));
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&dir)
        .map_err(|source| ConservationError::Io {
            context: format!("creating {}", dir.display()),
            source,
        })?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_policy() {
        assert!(password_problem("Ab1!").is_some());
        assert!(password_problem("abcdefg1!").is_some());
        assert!(password_problem("ABCDEFGh!").is_some());
        assert!(password_problem("Abcdefgh1").is_some());
        assert_eq!(password_problem("Conserv@2026x"), None);
        assert_eq!(
            password_problem("una Passphrase lunga 2026 e sicura!"),
            None
        );
    }
}
