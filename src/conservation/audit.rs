//! Fixity audit of one stored or exported package: the bag (every manifest and tag
//! manifest), the PIndex (structure, every listed file's SHA-256), the CAdES signature
//! of the index and of every rapporto di versamento, and the RFC 3161 time stamp.
//! Every problem is reported, not just the first.

use std::path::Path;

use openssl::x509::X509;

use crate::conservation::archive;
use crate::conservation::bag;
use crate::conservation::files;
use crate::conservation::pindex;
use crate::conservation::seal;
use crate::conservation::sha256_hex;
use crate::conservation::tsa;

/// Checks one package folder. `external` are trusted CA certificates: with none, the
/// package's own `ca.pem` is used when present (an offline check of consistency; trust
/// in that CA is the reader's decision). `pinned` is the recorded SHA-256 of the
/// package's `tagmanifest-sha256.txt`, when known.
pub fn check_package(root: &Path, external: &[X509], pinned: Option<&str>) -> Vec<String> {
    let mut problems = bag::check(root);
    if let Some(pinned) = pinned {
        check_pinned(root, pinned, &mut problems);
    }
    let certificates = root.join(archive::CERTIFICATES_DIR);
    let load = |name: &str| {
        std::fs::read(certificates.join(name))
            .ok()
            .and_then(|pem| X509::from_pem(&pem).ok())
    };
    let own_ca: Vec<X509> = load("ca.pem").into_iter().collect();
    let anchors = if external.is_empty() {
        &own_ca[..]
    } else {
        external
    };

    let index = match files::read(&root.join(archive::PINDEX)) {
        Ok(index) => index,
        Err(_) => {
            problems.push(format!("{}: missing", archive::PINDEX));
            return problems;
        }
    };
    check_listed(root, &index, &mut problems);
    match files::read(&root.join(archive::PINDEX_SIGNATURE)) {
        Ok(signature) => {
            if let Err(error) = seal::verify(&signature, &index, anchors) {
                problems.push(format!("{}: {error}", archive::PINDEX_SIGNATURE));
            }
            let tsa_cert = load("tsa.pem");
            check_stamp(root, &signature, tsa_cert, anchors, external, &mut problems);
        }
        Err(_) => problems.push(format!("{}: missing", archive::PINDEX_SIGNATURE)),
    }
    check_rapporti(root, anchors, &mut problems);
    problems
}

/// The package's tag manifest against the SHA-256 recorded when it was stored (a
/// missing one is the bag check's to report).
pub(crate) fn check_pinned(root: &Path, pinned: &str, problems: &mut Vec<String>) {
    match std::fs::read(root.join(bag::TAG_MANIFESTS[0])) {
        Ok(bytes) if sha256_hex(&bytes) == pinned => {}
        Ok(_) => problems.push(format!(
            "{}: differs from the recorded checksum",
            bag::TAG_MANIFESTS[0]
        )),
        Err(_) => {}
    }
}

/// Every rapporto di versamento with its signature, verified against `anchors`.
fn check_rapporti(root: &Path, anchors: &[X509], problems: &mut Vec<String>) {
    let rdv_dir = root.join(archive::RDV_DIR);
    let Ok(names) = files::list(&rdv_dir) else {
        return;
    };
    for name in names.iter().filter(|n| n.ends_with(".rdv.xml")) {
        let report = std::fs::read(rdv_dir.join(name));
        let signature = std::fs::read(rdv_dir.join(format!("{name}.p7s")));
        match (report, signature) {
            (Ok(report), Ok(signature)) => {
                if let Err(error) = seal::verify(&signature, &report, anchors) {
                    problems.push(format!("{}/{name}.p7s: {error}", archive::RDV_DIR));
                }
            }
            _ => problems.push(format!(
                "{}/{name}: rapporto or its signature missing",
                archive::RDV_DIR
            )),
        }
    }
}

/// The PIndex's structure, and every file it lists against its SHA-256.
fn check_listed(root: &Path, index: &[u8], problems: &mut Vec<String>) {
    let listed = match pindex::check(index) {
        Ok(listed) => listed,
        Err(error) => return problems.push(format!("{}: {error}", archive::PINDEX)),
    };
    for (path, digest) in listed.files {
        let Some(inside) = resolve(archive::SINCRO_DIR, &path) else {
            problems.push(format!("{path}: listed in the PIndex outside the package"));
            continue;
        };
        match std::fs::read(root.join(inside)) {
            Ok(bytes) if sha256_hex(&bytes).eq_ignore_ascii_case(&digest) => {}
            Ok(_) => problems.push(format!("{path}: does not match its hash in the PIndex")),
            Err(_) => problems.push(format!("{path}: listed in the PIndex but missing")),
        }
    }
}

/// The time stamp of the index's signature, by the package's `tsa.pem`. Checked
/// against the package's own material (no `external` anchors), a self-signed built-in
/// TSA (no dev CA key was at hand) is its own anchor.
fn check_stamp(
    root: &Path,
    signature: &[u8],
    tsa_cert: Option<X509>,
    anchors: &[X509],
    external: &[X509],
    problems: &mut Vec<String>,
) {
    let stamp = files::read(&root.join(archive::PINDEX_TIMESTAMP));
    match (stamp, tsa_cert) {
        (Ok(stamp), Some(tsa_cert)) => {
            let mut tsa_anchors = anchors.to_vec();
            if external.is_empty() && self_issued(&tsa_cert) {
                tsa_anchors.push(tsa_cert.clone());
            }
            if let Err(error) = tsa::verify(&stamp, signature, &tsa_cert, &tsa_anchors) {
                problems.push(format!("{}: {error}", archive::PINDEX_TIMESTAMP));
            }
        }
        (Err(_), _) => problems.push(format!("{}: missing", archive::PINDEX_TIMESTAMP)),
        (_, None) => problems.push(format!("{}/tsa.pem: missing", archive::CERTIFICATES_DIR)),
    }
}

/// Whether a certificate names itself as its issuer.
pub fn self_issued(certificate: &X509) -> bool {
    match (
        certificate.subject_name().to_der(),
        certificate.issuer_name().to_der(),
    ) {
        (Ok(subject), Ok(issuer)) => subject == issuer,
        _ => false,
    }
}

/// `relative` (a PIndex path, relative to the folder `base` of the package) as a path
/// from the package root; `None` when it would leave the package or is not relative.
fn resolve(base: &str, relative: &str) -> Option<String> {
    if relative.starts_with('/') || relative.contains('\\') || relative.contains(':') {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').collect();
    for part in relative.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            name => parts.push(name),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_paths_stay_inside_the_package() {
        let base = "data/metadata/other/sincro";
        assert_eq!(
            resolve(base, "../../../representations/rep1/data/p/message.eml").as_deref(),
            Some("data/representations/rep1/data/p/message.eml")
        );
        assert_eq!(
            resolve(base, "../rdv/x.xml").as_deref(),
            Some("data/metadata/other/rdv/x.xml")
        );
        assert_eq!(resolve(base, "../../../../../etc/passwd"), None);
        assert_eq!(resolve(base, "/etc/passwd"), None);
        assert_eq!(resolve(base, "C:/x"), None);
    }
}
