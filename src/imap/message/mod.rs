//! What FETCH and SEARCH read from a stored message (RFC 3501 §6.4.5, §7.4.2; RFC 3516).
//!
//! Every function takes the raw RFC 5322 bytes as stored, which are untrusted: any
//! input gives an answer, never a panic. A part that is not there reads as empty, as
//! Dovecot does. Values are owned (`'static`), ready for a response.
//!
//! The session calls [`envelope`], [`body_structure`], [`section()`], [`binary`] and
//! [`binary_size`] per FETCH item, or the same methods of one [`MimeMessage`] when a
//! FETCH asks for several; [`search`](crate::imap::search) reads
//! [`SearchText`].

pub mod address;
mod envelope;
mod mime;
mod section;
mod structure;
mod text;

use std::num::NonZeroU32;

use imap_codec::imap_types::body::BodyStructure;
use imap_codec::imap_types::envelope::Envelope;
use imap_codec::imap_types::fetch::Section;

use crate::imap::message::mime::Entity;
use crate::imap::message::structure::Form;

pub use crate::imap::message::section::BinaryError;
pub use crate::imap::message::text::CivilDay;
pub use crate::imap::message::text::SearchText;

/// A stored message split into its MIME tree once, for the several FETCH items of one
/// message. The free functions below do the same for a single item.
pub struct MimeMessage<'a> {
    raw: &'a [u8],
    root: Entity<'a>,
}

impl<'a> MimeMessage<'a> {
    /// Splits a raw message; any bytes are a message, possibly an empty one.
    pub fn parse(raw: &'a [u8]) -> MimeMessage<'a> {
        MimeMessage {
            raw,
            root: Entity::message(raw),
        }
    }

    /// See [`envelope`].
    pub fn envelope(&self) -> Envelope<'static> {
        envelope::of(&self.root)
    }

    /// See [`body_structure`].
    pub fn body_structure(&self, extended: bool) -> BodyStructure<'static> {
        let form = if extended { Form::Extended } else { Form::Body };
        structure::of(&self.root, form)
    }

    /// See [`section()`].
    pub fn section(
        &self,
        section: Option<&Section<'_>>,
        partial: Option<(u32, NonZeroU32)>,
    ) -> Vec<u8> {
        section::partial(section::bytes(&self.root, self.raw, section), partial)
    }

    /// See [`binary`].
    pub fn binary(
        &self,
        part_path: &[NonZeroU32],
        partial: Option<(u32, NonZeroU32)>,
    ) -> Result<Vec<u8>, BinaryError> {
        section::decoded(&self.root, self.raw, part_path)
            .map(|data| section::partial(data, partial))
    }

    /// See [`binary_size`].
    pub fn binary_size(&self, part_path: &[NonZeroU32]) -> Result<u32, BinaryError> {
        section::decoded(&self.root, self.raw, part_path)
            .map(|data| u32::try_from(data.len()).unwrap_or(u32::MAX))
    }
}

/// `BODY[HEADER]`, `BODY[HEADER.FIELDS (…)]` or `.NOT` of the top-level message
/// straight from its bytes, without splitting the MIME tree: the header cache's path
/// (`header` may be just the header block). `None` for any other section.
pub fn top_header_section(
    header: &[u8],
    section: &Section<'_>,
    partial: Option<(u32, NonZeroU32)>,
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    top_header_section_into(header, false, section, partial, &mut out).then_some(out)
}

/// [`top_header_section`] into `out` (cleared first, so one buffer serves many);
/// `false` for any other section. With `is_block`, `header` is known to be the header
/// block alone (from the header cache), so the blank line ending it is not looked for.
pub fn top_header_section_into(
    header: &[u8],
    is_block: bool,
    section: &Section<'_>,
    partial: Option<(u32, NonZeroU32)>,
    out: &mut Vec<u8>,
) -> bool {
    out.clear();
    let block = if is_block {
        header
    } else {
        mime::split_header(header).0
    };
    match section {
        Section::Header(None) => out.extend_from_slice(block),
        Section::HeaderFields(None, names) => {
            section::header_fields_into(block, names.as_ref(), true, out);
        }
        Section::HeaderFieldsNot(None, names) => {
            section::header_fields_into(block, names.as_ref(), false, out);
        }
        _ => return false,
    }
    if partial.is_some() {
        *out = section::partial(std::mem::take(out), partial);
    }
    true
}

/// ENVELOPE (RFC 3501 §7.4.2). Date, subject, In-Reply-To and Message-ID are the raw
/// values (encoded words kept); Sender and Reply-To default to From.
pub fn envelope(raw: &[u8]) -> Envelope<'static> {
    MimeMessage::parse(raw).envelope()
}

/// BODYSTRUCTURE when `extended`, else BODY (RFC 3501 §7.4.2). Extension data carries
/// Content-MD5, disposition, language and location for single parts, and the
/// parameters (the boundary among them), disposition, language and location for
/// multiparts.
pub fn body_structure(raw: &[u8], extended: bool) -> BodyStructure<'static> {
    MimeMessage::parse(raw).body_structure(extended)
}

/// `BODY[section]<partial>` (RFC 3501 §6.4.5); `None` is `BODY[]`. HEADER, TEXT and
/// HEADER.FIELDS under a part number read the message/rfc822 part's encapsulated
/// message; MIME reads the part's own header. A part that does not exist gives no
/// bytes.
pub fn section(
    raw: &[u8],
    section: Option<&Section<'_>>,
    partial: Option<(u32, NonZeroU32)>,
) -> Vec<u8> {
    MimeMessage::parse(raw).section(section, partial)
}

/// `BINARY[part]<partial>` (RFC 3516 §4.2): the part with its content-transfer-encoding
/// undone (base64, quoted-printable; 7bit, 8bit and binary as they are). An empty path
/// is the whole message. A part that does not exist gives no bytes.
pub fn binary(
    raw: &[u8],
    part_path: &[NonZeroU32],
    partial: Option<(u32, NonZeroU32)>,
) -> Result<Vec<u8>, BinaryError> {
    MimeMessage::parse(raw).binary(part_path, partial)
}

/// `BINARY.SIZE[part]` (RFC 3516 §4.2): the octet count of the decoded part, without
/// any partial range.
pub fn binary_size(raw: &[u8], part_path: &[NonZeroU32]) -> Result<u32, BinaryError> {
    MimeMessage::parse(raw).binary_size(part_path)
}

#[cfg(test)]
mod tests;
