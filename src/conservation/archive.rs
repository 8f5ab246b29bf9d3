//! The write-once archive: one folder per pacchetto di archiviazione (AIP) under
//! `<data_dir>/conservation/packages/`, a BagIt 1.0 bag laid out as follows:
//!
//! ```text
//! <pda-id>/ bagit.txt bag-info.txt manifest-sha{256,512}.txt tagmanifest-sha{256,512}.txt
//!   data/representations/rep1/data/<pdv-id>/message.eml   the message as received
//!   data/metadata/descriptive/<pdv-id>.xml                its metadata (SIP)
//!   data/metadata/other/rdv/<pdv-id>.rdv.xml(.p7s)        rapporto di versamento, signed
//!   data/metadata/other/sincro/pindex.xml                 SInCRO 2.0 index
//!   data/metadata/other/sincro/pindex.xml.p7s             CAdES detached signature
//!   data/metadata/other/sincro/pindex.xml.p7s.tsr         RFC 3161 time stamp of the signature
//!   data/metadata/other/certificates/*.pem                signer, TSA and CA certificates
//! ```
//!
//! A package is assembled in `.tmp-<pda-id>`, sealed read-only, then renamed into place;
//! nothing is ever rewritten.

use std::path::Path;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::Deserialize;
use serde::Serialize;

use crate::conservation::ConservationError;
use crate::conservation::bag;
use crate::conservation::files;
use crate::conservation::pindex;
use crate::conservation::pindex::IndexFile;
use crate::conservation::pindex::IndexGroup;
use crate::conservation::rdv;
use crate::conservation::rdv::SipFile;
use crate::conservation::seal;
use crate::conservation::sha256_hex;
use crate::conservation::sip::Metadata;
use crate::conservation::tsa::TimeSource;
use crate::crypto::identity::Signer;

/// Where the index and its signature live inside a package.
pub const SINCRO_DIR: &str = "data/metadata/other/sincro";
/// The index file.
pub const PINDEX: &str = "data/metadata/other/sincro/pindex.xml";
/// Its signature.
pub const PINDEX_SIGNATURE: &str = "data/metadata/other/sincro/pindex.xml.p7s";
/// The time stamp of the signature.
pub const PINDEX_TIMESTAMP: &str = "data/metadata/other/sincro/pindex.xml.p7s.tsr";
/// The certificates folder.
pub const CERTIFICATES_DIR: &str = "data/metadata/other/certificates";
/// The rapporti folder.
pub const RDV_DIR: &str = "data/metadata/other/rdv";

/// What signs and stamps packages.
pub struct Sealing<'a> {
    /// The conservation signer.
    pub signer: &'a Signer,
    /// Where time stamps come from.
    pub time: &'a TimeSource,
    /// The conservation service's name.
    pub provider_name: &'a str,
    /// Certificates to include (`file name`, PEM): the TSA, the CA.
    pub certificates: Vec<(String, Vec<u8>)>,
}

/// One accepted SIP to package.
pub struct Item {
    /// Its metadata.
    pub metadata: Metadata,
    /// The message as received.
    pub raw: Vec<u8>,
}

/// One message inside a stored package.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Packaged {
    /// The rapporto di versamento id.
    pub rdv_id: String,
    /// The SIP digest reported in the rapporto.
    pub sip_sha256: String,
    /// The metadata.
    pub metadata: Metadata,
}

/// A stored package, as recorded in the store.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct PackageRecord {
    /// The package id (its folder name).
    pub id: String,
    /// The mailbox.
    pub mailbox: String,
    /// When it was sealed.
    pub created: Timestamp,
    /// SHA-256 of `tagmanifest-sha256.txt`: pins the whole bag.
    pub tagmanifest_sha256: String,
    /// Payload bytes.
    pub bytes: u64,
    /// The messages.
    pub messages: Vec<Packaged>,
}

/// The packages folder under a data dir.
pub fn packages_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("conservation").join("packages")
}

/// Builds, seals and publishes one package at `root/<id>`.
pub fn build(
    root: &Path,
    id: &str,
    mailbox: &str,
    items: &[Item],
    sealing: &Sealing<'_>,
    now: Timestamp,
) -> Result<PackageRecord, ConservationError> {
    let temp = root.join(format!(".tmp-{id}"));
    if temp.exists() {
        // Left by a crash before publication: never referenced by any record.
        files::remove_unpublished(&temp)?;
    }
    let built = assemble(&temp, id, mailbox, items, sealing, now);
    if built.is_err() {
        // A failed build (e.g. the TSA did not answer) leaves nothing behind.
        let _ = files::remove_unpublished(&temp);
        return built;
    }
    files::publish_dir(&temp, &root.join(id))?;
    built
}

/// Writes, signs, stamps, bags and seals a package in `temp`.
fn assemble(
    temp: &Path,
    id: &str,
    mailbox: &str,
    items: &[Item],
    sealing: &Sealing<'_>,
    now: Timestamp,
) -> Result<PackageRecord, ConservationError> {
    let mut groups = Vec::new();
    let mut messages = Vec::new();
    let mut bytes = 0u64;
    for item in items {
        let (group, packaged) = write_sip(temp, mailbox, item, sealing, now)?;
        groups.push(group);
        messages.push(packaged);
        bytes += item.raw.len() as u64;
    }
    write_index(temp, id, mailbox, groups, sealing, now)?;
    let tagmanifest_sha256 = finish_bag(temp, id, mailbox, sealing, now)?;
    Ok(PackageRecord {
        id: id.to_string(),
        mailbox: mailbox.to_string(),
        created: now,
        tagmanifest_sha256,
        bytes,
        messages,
    })
}

/// Writes one message, its metadata and its signed rapporto di versamento; returns the
/// index group that lists those files and the package's record of the message.
fn write_sip(
    temp: &Path,
    mailbox: &str,
    item: &Item,
    sealing: &Sealing<'_>,
    now: Timestamp,
) -> Result<(IndexGroup, Packaged), ConservationError> {
    let sip = &item.metadata.sip_id;
    let metadata_xml = item.metadata.to_xml();
    let written = SipFiles {
        message: format!("data/representations/rep1/data/{sip}/message.eml"),
        metadata: format!("data/metadata/descriptive/{sip}.xml"),
        rdv: format!("{RDV_DIR}/{sip}.rdv.xml"),
    };
    files::write_in_package(&temp.join(&written.message), &item.raw)?;
    files::write_in_package(&temp.join(&written.metadata), metadata_xml.as_bytes())?;
    let sip_files = [
        SipFile {
            name: "message.eml".into(),
            sha256: item.metadata.sha256.clone(),
        },
        SipFile {
            name: "metadata.xml".into(),
            sha256: sha256_hex(metadata_xml.as_bytes()),
        },
    ];
    let rdv_id = format!("rdv-{sip}");
    let rapporto = rdv::rapporto(&rdv_id, sip, mailbox, now, &sip_files);
    let rdv_signature = seal::sign(sealing.signer, rapporto.as_bytes())?;
    files::write_in_package(&temp.join(&written.rdv), rapporto.as_bytes())?;
    files::write_in_package(&temp.join(written.signature()), &rdv_signature)?;
    let digests = [
        item.metadata.sha256.clone(),
        sip_files[1].sha256.clone(),
        sha256_hex(rapporto.as_bytes()),
        sha256_hex(&rdv_signature),
    ];
    let group = written.index_group(item, digests);
    let packaged = Packaged {
        rdv_id,
        sip_sha256: rdv::sip_digest(&sip_files),
        metadata: item.metadata.clone(),
    };
    Ok((group, packaged))
}

/// Where one SIP's files go in the package.
struct SipFiles {
    /// The message.
    message: String,
    /// Its descriptive metadata.
    metadata: String,
    /// Its rapporto di versamento.
    rdv: String,
}

impl SipFiles {
    /// The rapporto's detached signature.
    fn signature(&self) -> String {
        format!("{}.p7s", self.rdv)
    }

    /// The index group listing the SIP's files, with their `digests` in the order
    /// message, metadata, rapporto, signature.
    fn index_group(&self, item: &Item, digests: [String; 4]) -> IndexGroup {
        let sip = &item.metadata.sip_id;
        let label = format!(
            "{} {}",
            item.metadata.kind,
            item.metadata.subject.as_deref().unwrap_or_default()
        );
        let [message, metadata, rdv, signature] = digests;
        let file =
            |suffix, path: &str, sha256, format| index_file(sip, suffix, path, sha256, format);
        IndexGroup {
            id: sip.clone(),
            label: label.trim().to_string(),
            files: vec![
                file("message", &self.message, message, "message/rfc822"),
                file("metadata", &self.metadata, metadata, "application/xml"),
                file("rdv", &self.rdv, rdv, "application/xml"),
                file(
                    "rdv-signature",
                    &self.signature(),
                    signature,
                    "application/pkcs7-signature",
                ),
            ],
        }
    }
}

/// How the index lists one file of a SIP: by a path relative to the index's folder,
/// with its digest, media type and the extension its path ends with.
fn index_file(sip: &str, suffix: &str, path: &str, sha256: String, format: &str) -> IndexFile {
    IndexFile {
        id: format!("{sip}/{suffix}"),
        path: format!("../../../{}", path.trim_start_matches("data/")),
        sha256,
        format: format.into(),
        extension: path.rsplit('.').next().unwrap_or_default().into(),
    }
}

/// Writes the SInCRO index, its CAdES signature and the time stamp of that signature,
/// with the certificates a verifier needs.
fn write_index(
    temp: &Path,
    id: &str,
    mailbox: &str,
    groups: Vec<IndexGroup>,
    sealing: &Sealing<'_>,
    now: Timestamp,
) -> Result<(), ConservationError> {
    let index = pindex::write(&pindex::IndexInput {
        id: format!("urn:pecd:pindex:{id}"),
        volume_id: id.to_string(),
        volume_label: format!("PEC conservate di {mailbox} ({})", now.strftime("%Y-%m-%d")),
        provider_name: sealing.provider_name.to_string(),
        mailbox: mailbox.to_string(),
        created: now,
        groups,
    })
    .map_err(|source| ConservationError::Io {
        context: "writing the PIndex".into(),
        source,
    })?;
    let signature = seal::sign(sealing.signer, index.as_bytes())?;
    let stamp = sealing.time.stamp(&signature, now)?;
    files::write_in_package(&temp.join(PINDEX), index.as_bytes())?;
    files::write_in_package(&temp.join(PINDEX_SIGNATURE), &signature)?;
    files::write_in_package(&temp.join(PINDEX_TIMESTAMP), &stamp)?;
    let signer_pem = sealing.signer.certificate().to_pem()?;
    files::write_in_package(&temp.join(CERTIFICATES_DIR).join("signer.pem"), &signer_pem)?;
    for (name, pem) in &sealing.certificates {
        files::write_in_package(&temp.join(CERTIFICATES_DIR).join(name), pem)?;
    }
    Ok(())
}

/// Writes the bag's manifests and tag files, makes every file durable and seals the
/// folders read-only; returns the SHA-256 of `tagmanifest-sha256.txt`.
fn finish_bag(
    temp: &Path,
    id: &str,
    mailbox: &str,
    sealing: &Sealing<'_>,
    now: Timestamp,
) -> Result<String, ConservationError> {
    let tagmanifest_sha256 = bag::finish(
        temp,
        &[
            ("Source-Organization", sealing.provider_name.to_string()),
            ("Bagging-Date", now.strftime("%Y-%m-%d").to_string()),
            ("External-Identifier", id.to_string()),
            ("Bag-Group-Identifier", mailbox.to_string()),
            (
                "BagIt-Profile-Identifier",
                "urn:pecd:conservazione:pda:1".to_string(),
            ),
        ],
    )?;
    files::sync_files(temp)?;
    files::seal_dirs(temp)?;
    Ok(tagmanifest_sha256)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::conservation::audit;
    use crate::conservation::sip;
    use crate::conservation::testing::pki;

    /// A package of two ordinary messages in `root`, sealed with the test PKI.
    pub(crate) fn sample_package(root: &Path) -> PackageRecord {
        let pki = pki();
        let tsa_pem = pki.tsa.certificate().to_pem().unwrap();
        let source = TimeSource::Builtin(pki.tsa.clone());
        let sealing = Sealing {
            signer: &pki.signer,
            time: &source,
            provider_name: "Gestore A",
            certificates: vec![
                ("tsa.pem".into(), tsa_pem),
                ("ca.pem".into(), pki.ca.certificate.to_pem().unwrap()),
            ],
        };
        let items: Vec<Item> = (1..=2)
            .map(|n| {
                let raw = format!(
                    "From: a@b.test\r\nTo: m@pec-a.test\r\nSubject: n{n}\r\n\r\nbody {n}\r\n"
                )
                .into_bytes();
                let sip::Checked::Accepted(metadata) = sip::check(
                    &format!("pdv-{n}"),
                    "m@pec-a.test",
                    &raw,
                    Timestamp::now(),
                    &[sip::RFC822.to_string()],
                    None,
                    None,
                ) else {
                    panic!("refused")
                };
                Item {
                    metadata: *metadata,
                    raw,
                }
            })
            .collect();
        build(
            root,
            "pda-test-1",
            "m@pec-a.test",
            &items,
            &sealing,
            Timestamp::now(),
        )
        .unwrap()
    }

    #[test]
    fn a_built_package_audits_clean_and_is_write_once() {
        let dir = tempfile::tempdir().unwrap();
        let record = sample_package(dir.path());
        let root = dir.path().join("pda-test-1");
        let anchors = [pki().ca.certificate.clone()];
        let problems = audit::check_package(&root, &anchors, Some(&record.tagmanifest_sha256));
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(record.messages.len(), 2);
        assert!(
            std::fs::metadata(root.join(PINDEX))
                .unwrap()
                .permissions()
                .readonly()
        );
    }

    #[test]
    fn a_self_signed_built_in_tsa_audits_clean_offline() {
        let dir = tempfile::tempdir().unwrap();
        let tsa = crate::conservation::tsa::Tsa::create(None).unwrap();
        let pem = tsa.certificate().to_pem().unwrap();
        let source = TimeSource::Builtin(tsa);
        let sealing = Sealing {
            signer: &pki().signer,
            time: &source,
            provider_name: "Gestore A",
            certificates: vec![("tsa.pem".into(), pem)],
        };
        let raw = b"From: a@b.test\r\nSubject: x\r\n\r\nbody\r\n".to_vec();
        let sip::Checked::Accepted(metadata) = sip::check(
            "pdv-9",
            "m@pec-a.test",
            &raw,
            Timestamp::now(),
            &[sip::RFC822.to_string()],
            None,
            None,
        ) else {
            panic!("refused")
        };
        let items = [Item {
            metadata: *metadata,
            raw,
        }];
        build(
            dir.path(),
            "pda-x",
            "m@pec-a.test",
            &items,
            &sealing,
            Timestamp::now(),
        )
        .unwrap();
        let problems = audit::check_package(&dir.path().join("pda-x"), &[], None);
        assert_eq!(problems, Vec::<String>::new());
    }

    #[test]
    fn a_failed_time_stamp_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let source = TimeSource::Remote("http://127.0.0.1:9/tsa".into());
        let sealing = Sealing {
            signer: &pki().signer,
            time: &source,
            provider_name: "Gestore A",
            certificates: vec![],
        };
        let raw = b"From: a@b.test\r\n\r\nbody\r\n".to_vec();
        let sip::Checked::Accepted(metadata) = sip::check(
            "pdv-8",
            "m@pec-a.test",
            &raw,
            Timestamp::now(),
            &[sip::RFC822.to_string()],
            None,
            None,
        ) else {
            panic!("refused")
        };
        let items = [Item {
            metadata: *metadata,
            raw,
        }];
        let built = build(
            dir.path(),
            "pda-y",
            "m@pec-a.test",
            &items,
            &sealing,
            Timestamp::now(),
        );
        assert!(
            matches!(built, Err(ConservationError::Timestamp(_))),
            "{built:?}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
