//! Documents kept with a mailbox: the signed activation contract, requests for new
//! credentials, subentro and closure. Only real PDFs are taken (parsed, not judged by
//! their name), up to a size, stored immutable and content-addressed; uploading the
//! activation contract marks the mailbox's contract as received.

use jiff::Timestamp;

use crate::manage::Actor;
use crate::manage::ManageError;
use crate::manage::pdf;
use crate::manage::validate;
use crate::store::Store;
use crate::store::management::Change;
use crate::store::management::Document;
use crate::store::management::DocumentKind;

/// The largest document accepted.
pub const MAX_DOCUMENT_BYTES: usize = 10 << 20;

/// Keeps a PDF with a mailbox the actor may see.
pub fn upload(
    store: &Store,
    actor: &Actor,
    address: &str,
    kind: &str,
    filename: &str,
    bytes: &[u8],
    now: Timestamp,
) -> Result<Document, ManageError> {
    let kind = DocumentKind::parse(kind.trim())
        .ok_or_else(|| ManageError::invalid("tipo", "Tipo di documento sconosciuto."))?;
    let filename = shown_name(filename);
    pdf::check(bytes, MAX_DOCUMENT_BYTES)
        .map_err(|error| ManageError::invalid("file", error.to_string()))?;
    let mailbox = crate::manage::mailboxes::visible(store, actor, address)?;
    let blob = store.blobs().put(bytes)?;
    let document = Document {
        id: 0,
        kind,
        filename,
        blob,
        size: bytes.len() as u64,
        by: actor.username.clone(),
        at: now,
    };
    let kept = store.write(|tx| {
        let kept = tx
            .management()
            .add_document(&mailbox.address, document.clone())?;
        let line = Change {
            at: now,
            by: actor.username.clone(),
            field: "documento".to_string(),
            old: String::new(),
            new: format!("{}: {}", kind.label(), kept.filename),
        };
        tx.management().record_change(&mailbox.address, &line)?;
        if kind == DocumentKind::Contratto {
            tx.mailboxes()
                .update(&mailbox.address, |m| m.profile.contract = true)?;
        }
        Ok(kept)
    })?;
    Ok(kept)
}

/// A document of a mailbox the actor may see, with its bytes.
pub fn download(
    store: &Store,
    actor: &Actor,
    address: &str,
    id: u64,
) -> Result<(Document, Vec<u8>), ManageError> {
    let mailbox = crate::manage::mailboxes::visible(store, actor, address)?;
    let documents = store.read(|tx| tx.management().documents(&mailbox.address))?;
    let document = documents
        .into_iter()
        .find(|d| d.id == id)
        .ok_or_else(|| ManageError::NotFound(format!("documento {id}")))?;
    let bytes = store.blobs().get(&document.blob)?;
    Ok((document, bytes))
}

/// The uploaded file's name as shown: its last path component, printable, bounded;
/// never used as a path.
fn shown_name(filename: &str) -> String {
    let last = filename.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(validate::MAX_NAME_CHARS)
        .collect();
    if clean.trim().is_empty() {
        "documento.pdf".to_string()
    } else {
        clean
    }
}
