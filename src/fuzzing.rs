//! Entry points the fuzz targets (`fuzz/fuzz_targets/*.rs`) and the corpus replay test
//! (`tests/integration/fuzz_corpus.rs`) call: one per parser of untrusted bytes. Each
//! must return normally for any input; a panic is a bug the fuzzer reports.

use crate::crypto::smime;
use crate::crypto::smime::Anchors;
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
