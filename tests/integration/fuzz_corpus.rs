//! Replays every fuzz corpus (`fuzz/corpus/<target>/`) through the same helpers the
//! libFuzzer targets call, so stable `cargo test` exercises every parser of untrusted
//! bytes on every seed and every past crash.

use crate::support;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = support::root().join("fuzz/corpus").join(target);
    let entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    assert!(!entries.is_empty(), "{} holds no seeds", dir.display());
    for path in entries {
        let data = std::fs::read(&path).unwrap();
        run(&data);
    }
}

#[test]
fn daticert_corpus() {
    replay("daticert", pecd::fuzzing::daticert);
}

#[test]
fn message_reader_corpus() {
    replay("message_reader", pecd::fuzzing::message_reader);
}

#[test]
fn ldif_corpus() {
    replay("ldif", pecd::fuzzing::ldif);
}

#[test]
fn smime_verify_corpus() {
    replay("smime_verify", pecd::fuzzing::smime_verify);
}

#[test]
fn smime_shapes_corpus() {
    replay("smime_shapes", pecd::fuzzing::smime_shapes);
}

#[test]
fn imap_message_corpus() {
    replay("imap_message", pecd::fuzzing::imap_message);
}

#[test]
fn imap_session_corpus() {
    replay("imap_session", pecd::fuzzing::imap_session);
}

#[test]
fn smtp_session_corpus() {
    replay("smtp_session", pecd::fuzzing::smtp_session);
}

#[test]
fn control_corpus() {
    replay("control", pecd::fuzzing::control);
}

#[test]
fn tsa_response_corpus() {
    replay("tsa_response", pecd::fuzzing::tsa_response);
}

#[test]
fn pindex_corpus() {
    replay("pindex", pecd::fuzzing::pindex);
}

#[test]
fn manage_fields_corpus() {
    replay("manage_fields", pecd::fuzzing::manage_fields);
}

#[test]
fn pdf_upload_corpus() {
    replay("pdf_upload", pecd::fuzzing::pdf_upload);
}

#[test]
fn link_token_corpus() {
    replay("link_token", pecd::fuzzing::link_token);
}

#[test]
fn index_p7m_corpus() {
    replay("index_p7m", pecd::fuzzing::index_p7m);
}
