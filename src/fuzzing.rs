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

/// What a TSA answers, as the conservation gateway and `verify-package` read it.
pub fn tsa_response(data: &[u8]) {
    crate::conservation::fuzz::tsa_response(data);
}

/// The PIndex (SInCRO index) of a package read back by `verify-package` and the audit.
pub fn pindex(data: &[u8]) {
    crate::conservation::fuzz::pindex_check(data);
}

/// The control socket's framing, both ways, and the request the daemon decodes.
pub fn control(data: &[u8]) {
    if let Ok(request) = crate::control::read_request(&mut &data[..]) {
        let _ = crate::cli::store::decode_request(&request);
    }
    let _ = crate::cli::store::decode_request(data);
    let _ = crate::control::read_reply(&mut &data[..], &mut std::io::sink());
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

/// The IMAP input path on any bytes: framing, the extension pre-parser, the codec and
/// the session, against a scratch store made once per process. Every login succeeds
/// (as `fuzz@pec.test`) so the authenticated and selected states are reached.
pub fn imap_session(data: &[u8]) {
    use crate::imap::framing::Framed;
    use crate::imap::framing::Framer;
    use crate::imap::session::Effect;
    use crate::imap::session::Session;
    use crate::imap::session::SessionConfig;

    let Some(store) = scratch_store() else {
        return;
    };
    let config = SessionConfig {
        hostname: "pec.test".into(),
        starttls: true,
        max_append_bytes: 1 << 20,
        conservation_root: None,
    };
    let mut session = Session::new(config, true);
    let mut framer = Framer::new(1 << 20);
    framer.enqueue(data);
    let mut pending: Option<Effect> = None;
    loop {
        if session.user().is_some() {
            framer.logged_in();
        }
        match framer.progress() {
            Framed::NeedMore => return,
            Framed::Send(out) => {
                let _ = out.encode();
                continue;
            }
            Framed::Close(out) => {
                let _ = out.encode();
                return;
            }
            Framed::Message => {}
        }
        let step = match pending.take() {
            Some(Effect::AuthenticateData { tag }) => {
                let line = framer.message().to_vec();
                session.authenticate_data(tag, &line)
            }
            Some(Effect::Idle { tag }) => {
                let _ = session.idle_done(store, tag);
                continue;
            }
            _ => match crate::imap::server::decode(&framer) {
                Ok((command, extended)) => {
                    session.handle(store, command, &extended, jiff::Timestamp::UNIX_EPOCH)
                }
                Err(out) => {
                    let _ = out.encode();
                    continue;
                }
            },
        };
        for out in &step.out {
            let _ = out.encode();
        }
        match step.effect {
            Effect::CheckLogin { tag, .. } => {
                let step = session.login_checked(tag, "fuzz@pec.test", true);
                for out in &step.out {
                    let _ = out.encode();
                }
            }
            Effect::StartTls => session.tls_started(),
            Effect::Close => return,
            other => pending = Some(other),
        }
    }
}

/// A store under the temp dir with one mailbox, shared by every fuzz input.
fn scratch_store() -> Option<&'static crate::store::Store> {
    use std::sync::OnceLock;
    static STORE: OnceLock<Option<crate::store::Store>> = OnceLock::new();
    STORE
        .get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("pecd-fuzz-imap-{}", std::process::id()));
            let store = crate::store::Store::open(&dir).ok()?;
            let settings = crate::store::mailbox::NewMailbox::default();
            let _ = store.write(|tx| {
                tx.create_mailbox(
                    "fuzz@pec.test",
                    "fuzz",
                    &settings,
                    jiff::Timestamp::UNIX_EPOCH,
                )
            });
            Some(store)
        })
        .as_ref()
}

/// The SMTP input path on any bytes: command lines into the session, DATA bodies
/// through the decoder, every backend question answered yes; the first byte picks
/// submission or MX mode.
pub fn smtp_session(data: &[u8]) {
    use crate::smtp::data::DataDecoder;
    use crate::smtp::reply::Reply;
    use crate::smtp::session::AuthOutcome;
    use crate::smtp::session::Mode;
    use crate::smtp::session::Session;
    use crate::smtp::session::SessionConfig;
    use crate::smtp::session::Step;

    let Some((&first, mut rest)) = data.split_first() else {
        return;
    };
    let config = SessionConfig {
        mode: if first % 2 == 0 {
            Mode::Submission
        } else {
            Mode::Mx
        },
        hostname: "pec.test".into(),
        max_message_bytes: 1 << 16,
        max_recipients: 8,
        max_auth_failures: 3,
        tls_available: true,
        implicit_tls: first & 2 != 0,
    };
    let mut session = Session::new(config, std::net::IpAddr::from([127, 0, 0, 1]));
    let _ = session.greeting().to_bytes();
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|b| *b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (line, after) = rest.split_at(end);
        rest = after;
        let mut step = if line.len() > 1000 {
            session.on_line_too_long()
        } else {
            session.on_line(line)
        };
        loop {
            step = match step {
                Step::Reply(reply) => {
                    let _ = reply.to_bytes();
                    break;
                }
                Step::Close(_) => return,
                Step::StartTls(_) => {
                    session.on_tls_established();
                    break;
                }
                Step::Authenticate { .. } => session.on_auth_result(AuthOutcome::Accepted),
                Step::CheckRecipient { .. } => session.on_recipient_checked(Ok(())),
                Step::ReadData { max_bytes, .. } => {
                    let mut decoder = DataDecoder::new(max_bytes);
                    let (used, body) = decoder.feed(rest);
                    rest = &rest[used.min(rest.len())..];
                    match body {
                        Some(body) => session.on_data(body),
                        None => return,
                    }
                }
                Step::Submit(_) => session.on_submitted(Reply::new(250, (2, 0, 0), "Ok")),
            };
        }
    }
}
