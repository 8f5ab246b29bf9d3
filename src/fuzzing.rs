//! Entry points the fuzz targets (`fuzz/fuzz_targets/*.rs`) and the corpus replay test
//! (`tests/integration/fuzz_corpus.rs`) call: one per parser of untrusted bytes. Each
//! must return normally for any input; a panic is a bug the fuzzer reports.

use std::num::NonZeroU32;

use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::fetch::Part;
use imap_codec::imap_types::fetch::Section;

use crate::crypto::smime;
use crate::crypto::smime::Anchors;
use crate::imap::message;
use crate::pec::daticert;
use crate::pec::index::ProvidersIndex;
use crate::pec::ldif;
use crate::pec::reader;

/// `Daticert::parse`, and the write → parse round trip of whatever parses.
pub fn daticert(data: &[u8]) {
    daticert::fuzz_round_trip(data);
}

/// The message reader on any bytes; what it extracts is read again.
pub fn message_reader(data: &[u8]) {
    if let Ok(message) = reader::read(data)
        && let Some(original) = message.original
    {
        let _ = reader::read(&original);
    }
}

/// The LDIF parser and the providers index, with the write → parse round trip.
pub fn ldif(data: &[u8]) {
    ldif::fuzz_ldif(data);
    let _ = ProvidersIndex::from_ldif(data);
}

/// S/MIME structure splitting and signature verification on any message.
pub fn smime_verify(data: &[u8]) {
    if let (Ok(parts), Ok(anchors)) = (smime::split_signed(data), Anchors::empty()) {
        let _ = smime::verify(
            &parts.entity,
            &parts.signature,
            &anchors,
            jiff::Timestamp::UNIX_EPOCH,
        );
    }
}

/// Everything FETCH and SEARCH compute from a stored message, on any bytes: envelope,
/// BODY and BODYSTRUCTURE, sections down nested parts, BINARY and the search text.
pub fn imap_message(data: &[u8]) {
    let _ = message::envelope(data);
    let _ = message::body_structure(data, false);
    let _ = message::body_structure(data, true);
    assert_eq!(
        message::section(data, None, None),
        data,
        "BODY[] is the message"
    );
    let one = NonZeroU32::MIN;
    let two = one.saturating_add(1);
    let Ok(subject) = AString::try_from("Subject") else {
        return;
    };
    let names = Vec1::from(subject);
    let paths: [&[NonZeroU32]; 4] = [&[one], &[two], &[one, two], &[two, one, one]];
    for path in paths {
        let part = Vec1::try_from(path.to_vec()).map(Part).ok();
        let mut sections = vec![
            Section::Header(part.clone()),
            Section::Text(part.clone()),
            Section::HeaderFields(part.clone(), names.clone()),
            Section::HeaderFieldsNot(part.clone(), names.clone()),
        ];
        if let Some(part) = part {
            sections.push(Section::Part(part.clone()));
            sections.push(Section::Mime(part));
        }
        for section in &sections {
            let full = message::section(data, Some(section), None);
            let cut = message::section(data, Some(section), Some((1, two)));
            let expected: Vec<u8> = full.iter().skip(1).take(2).copied().collect();
            assert_eq!(cut, expected, "<1.2> of {section:?}");
        }
        let _ = message::binary(data, path, Some((0, two)));
        let _ = message::binary_size(data, path);
    }
    let _ = message::SearchText::parse(data);
}
