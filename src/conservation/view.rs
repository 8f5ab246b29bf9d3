//! The read-only view of conserved messages the IMAP side shows: folders grouped by
//! year and kind (`Conservazione/2026/Ricevute`), each message read back from its
//! package and checked against its recorded SHA-256 before it is served.

use std::collections::BTreeMap;
use std::path::Path;

use jiff::Timestamp;

use crate::conservation::ConservationError;
use crate::conservation::archive::PackageRecord;
use crate::conservation::sha256_hex;

/// The root of the view.
pub const ROOT: &str = "Conservazione";

/// One conserved message in the view.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Entry {
    /// Its package.
    pub package: String,
    /// Its SIP id.
    pub sip_id: String,
    /// When it was filed (the IMAP internal date).
    pub received: Timestamp,
    /// Its size.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: String,
    /// The recorded SHA-256 of its package's tag manifest, which pins the package.
    pub pinned: String,
}

/// The folder of a message: `Conservazione/<year>/<Buste|Anomalie|Ricevute|Altri>`.
pub fn folder_of(kind: &str, received: Timestamp) -> String {
    let group = match kind {
        "posta-certificata" => "Buste",
        "anomalia" => "Anomalie",
        "ordinary" => "Altri",
        _ => "Ricevute",
    };
    format!("{ROOT}/{}/{group}", received.strftime("%Y"))
}

/// A mailbox's conserved messages by folder, oldest first in each (stable order: the
/// position in a folder can serve as its UID order).
pub fn folders(packages: &[PackageRecord], mailbox: &str) -> BTreeMap<String, Vec<Entry>> {
    let mut out: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for package in packages
        .iter()
        .filter(|p| p.mailbox.eq_ignore_ascii_case(mailbox))
    {
        for message in &package.messages {
            let m = &message.metadata;
            out.entry(folder_of(&m.kind, m.received))
                .or_default()
                .push(Entry {
                    package: package.id.clone(),
                    sip_id: m.sip_id.clone(),
                    received: m.received,
                    size: m.size,
                    sha256: m.sha256.clone(),
                    pinned: package.tagmanifest_sha256.clone(),
                });
        }
    }
    for entries in out.values_mut() {
        entries.sort_by(|a, b| (a.received, &a.sip_id).cmp(&(b.received, &b.sip_id)));
    }
    out
}

/// The message bytes of an entry, from the packages folder `root`; an altered file is
/// an error, never served.
pub fn read(root: &Path, entry: &Entry) -> Result<Vec<u8>, ConservationError> {
    let path = root.join(&entry.package).join(format!(
        "data/representations/rep1/data/{}/message.eml",
        entry.sip_id
    ));
    let bytes = crate::conservation::files::read(&path)?;
    if sha256_hex(&bytes) != entry.sha256 {
        return Err(ConservationError::Invalid(format!(
            "{} no longer matches its recorded hash",
            path.display()
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_by_year_and_kind() {
        let t: Timestamp = "2026-03-02T10:00:00Z".parse().unwrap();
        assert_eq!(
            folder_of("avvenuta-consegna", t),
            "Conservazione/2026/Ricevute"
        );
        assert_eq!(
            folder_of("posta-certificata", t),
            "Conservazione/2026/Buste"
        );
        assert_eq!(folder_of("anomalia", t), "Conservazione/2026/Anomalie");
    }
}
