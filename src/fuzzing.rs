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

mod imap_store;

use imap_store::FUZZ_MAX_APPEND;
use imap_store::FUZZ_USER;
use imap_store::PREPARED;

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

/// Every form-field check of the management plane on any text, and the CSV writer on
/// the same text cut into cells.
pub fn manage_fields(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    crate::manage::validate::fuzz_fields(&text);
    crate::manage::csv::fuzz_table(&text);
}

/// The PDF check of uploaded documents on any bytes.
pub fn pdf_upload(data: &[u8]) {
    let _ = crate::manage::pdf::check(data, 1 << 20);
}

/// The LDIF parser and the providers index, with the write → parse round trip.
pub fn ldif(data: &[u8]) {
    ldif::fuzz_ldif(data);
    let _ = ProvidersIndex::from_ldif(data);
}

/// The providers index as `[index] url` downloads it, read with the anchors or without.
/// An input whose first byte is odd is first made a genuine `.p7m`: the rest signed by
/// a development CA's signer, as DER, PEM or base64 by the second byte, so the verified
/// path reaches the LDIF parser and the certificate-hash checks too.
pub fn index_p7m(data: &[u8]) {
    use crate::crypto::trust::load_index;

    let Some(fixture) = IndexFixture::get() else {
        return;
    };
    let signed = match data {
        [mode, form, ldif @ ..] if mode % 2 == 1 => fixture.sign(*form, ldif),
        _ => None,
    };
    let bytes = signed.as_deref().unwrap_or(data);
    // One reading per input, the first byte's second bit choosing it: each costs
    // a parse of the whole PKCS#7, the slowest part of the target.
    let anchors = match data.first() {
        Some(mode) if mode & 2 == 2 => Some(&fixture.anchors),
        _ => None,
    };
    let _ = load_index(bytes, anchors);
}

/// A development CA and a signer it issued, made once per process.
struct IndexFixture {
    signer: crate::crypto::certs::Issued,
    anchors: openssl::x509::store::X509Store,
}

impl IndexFixture {
    fn get() -> Option<&'static IndexFixture> {
        use std::sync::OnceLock;
        static FIXTURE: OnceLock<Option<IndexFixture>> = OnceLock::new();
        FIXTURE.get_or_init(IndexFixture::make).as_ref()
    }

    fn make() -> Option<IndexFixture> {
        use crate::crypto::certs;
        // Small keys: the fixture signs on every odd input.
        let ca = certs::dev_ca("Fuzz Index", 1024).ok()?;
        let signer = certs::signing_certificate(&ca, "pec-a.test", "Gestore A", 1024).ok()?;
        let mut anchors = openssl::x509::store::X509StoreBuilder::new().ok()?;
        anchors.add_cert(ca.certificate).ok()?;
        Some(IndexFixture {
            signer,
            anchors: anchors.build(),
        })
    }

    /// `content` signed into a `.p7m` in the form `form` picks.
    fn sign(&self, form: u8, content: &[u8]) -> Option<Vec<u8>> {
        use base64::Engine;
        use openssl::pkcs7::Pkcs7;
        use openssl::pkcs7::Pkcs7Flags;
        use openssl::stack::Stack;

        let extra = Stack::new().ok()?;
        let p7m = Pkcs7::sign(
            &self.signer.certificate,
            &self.signer.key,
            &extra,
            content,
            Pkcs7Flags::BINARY,
        )
        .ok()?;
        match form % 3 {
            0 => p7m.to_der().ok(),
            1 => p7m.to_pem().ok(),
            _ => Some(
                base64::engine::general_purpose::STANDARD
                    .encode(p7m.to_der().ok()?)
                    .into_bytes(),
            ),
        }
    }
}

/// What a TSA answers, as the conservation gateway and `verify-package` read it.
pub fn tsa_response(data: &[u8]) {
    crate::conservation::fuzz::tsa_response(data);
}

/// The PIndex (SInCRO index) of a package read back by `verify-package` and the audit.
pub fn pindex(data: &[u8]) {
    crate::conservation::fuzz::pindex_check(data);
}

/// A one-time link's token as the link's page reads it from the URL: what parses is
/// written back the same, so one token has one spelling.
pub fn link_token(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(token) = crate::notify::token::Token::parse(text)
    {
        assert_eq!(token.as_hex(), text, "a token with two spellings");
    }
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

/// The S/MIME verifier on genuine signatures reshaped as `data` describes
/// ([`SignatureShape`]): whatever the shape, a signature that verifies carries the
/// genuine SignerInfo unchanged (any change to it or its signed attributes, or a second
/// one, must be refused).
pub fn smime_shapes(data: &[u8]) {
    use arbitrary::Arbitrary;

    let Ok(shape) = SignatureShape::arbitrary_take_rest(arbitrary::Unstructured::new(data)) else {
        return;
    };
    let Some(fixture) = ShapesFixture::get() else {
        return;
    };
    let Ok((der, signer_infos)) = shape.apply(&fixture.der) else {
        return;
    };
    let report = smime::verify(
        ShapesFixture::ENTITY,
        &der,
        &fixture.anchors,
        jiff::Timestamp::now(),
    );
    assert!(
        !report.valid || signer_infos == fixture.signer_infos,
        "a reshaped SignerInfo verified: {shape:?}"
    );
}

/// What the structure-aware S/MIME target changes in a genuine signature, with the
/// builders the verifier's tests use (`crypto::smime::shapes`).
#[derive(Debug, arbitrary::Arbitrary)]
pub struct SignatureShape {
    /// The embedded certificates to keep, by index among the signer's and its CA's,
    /// repeats allowed; empty keeps them as signed.
    certificates: Vec<u8>,
    /// Whether the first two embedded certificates swap places on the wire.
    swap_certificates: bool,
    /// Copies of the SignerInfo to add, each with its signature's first byte XORed.
    signer_copies: Vec<u8>,
    /// Edits of the SignerInfo's signed attributes, in order.
    attributes: Vec<AttributeEdit>,
}

/// One edit of the signed attributes.
#[derive(Debug, arbitrary::Arbitrary)]
pub enum AttributeEdit {
    /// Attribute `index` again, with a signing time of `year` as its value.
    Repeat {
        /// Which attribute (modulo their number).
        index: u8,
        /// The value's year.
        year: u16,
    },
    /// A signing time of `year` as a second value of attribute `index`.
    SecondValue {
        /// Which attribute (modulo their number).
        index: u8,
        /// The value's year.
        year: u16,
    },
    /// Attribute `index` removed.
    Remove {
        /// Which attribute (modulo their number).
        index: u8,
    },
}

impl SignatureShape {
    /// The most certificates, SignerInfo copies or attribute edits a shape applies: a
    /// few of each reach every case of the verifier, while each more costs the DER
    /// sort of its SET OF again, so long inputs would only run slower.
    const MOST: usize = 8;

    /// The reshaped signature and the DER of its SignerInfos.
    fn apply(&self, der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), smime::shapes::ShapeError> {
        use x509_cert::der::Encode;

        let mut signer_infos = Vec::new();
        let mut first_two = None;
        let edited = smime::shapes::edit_signed_data(der, |signed| {
            if !self.certificates.is_empty() {
                let kept = &self.certificates[..self.certificates.len().min(Self::MOST)];
                smime::shapes::pick_certificates(signed, kept)?;
            }
            for &flip in self.signer_copies.iter().take(Self::MOST) {
                smime::shapes::add_signer_copy(signed, 0, flip)?;
            }
            smime::shapes::edit_signed_attributes(signed, 0, |attributes| {
                self.attributes
                    .iter()
                    .take(Self::MOST)
                    .try_for_each(|edit| edit.apply(attributes))
            })?;
            signer_infos = signed.signer_infos.to_der()?;
            if self.swap_certificates
                && let Some([first, second, ..]) =
                    signed.certificates.as_ref().map(|set| set.0.as_slice())
            {
                first_two = Some([first.to_der()?, second.to_der()?]);
            }
            Ok(())
        })?;
        // The first two embedded certificates swap places on the wire, where the
        // encoder would have sorted them.
        let reshaped = match first_two {
            Some([first, second]) => {
                smime::shapes::swapped(&edited, &first, &second).unwrap_or(edited)
            }
            None => edited,
        };
        Ok((reshaped, signer_infos))
    }
}

impl AttributeEdit {
    fn apply(
        &self,
        attributes: &mut Vec<x509_cert::attr::Attribute>,
    ) -> Result<(), smime::shapes::ShapeError> {
        let count = attributes.len().max(1);
        match *self {
            AttributeEdit::Repeat { index, year } => {
                if let Some(attribute) = attributes.get(usize::from(index) % count) {
                    let mut copy = attribute.clone();
                    let value = smime::shapes::signing_time_value(year)?;
                    copy.values = x509_cert::der::asn1::SetOfVec::try_from(vec![value])?;
                    attributes.push(copy);
                }
            }
            AttributeEdit::SecondValue { index, year } => {
                if let Some(attribute) = attributes.get_mut(usize::from(index) % count) {
                    attribute
                        .values
                        .insert(smime::shapes::signing_time_value(year)?)?;
                }
            }
            AttributeEdit::Remove { index } => {
                if usize::from(index) % count < attributes.len() {
                    attributes.remove(usize::from(index) % count);
                }
            }
        }
        Ok(())
    }
}

/// A genuine signature made once per process by a development CA's signer.
struct ShapesFixture {
    der: Vec<u8>,
    signer_infos: Vec<u8>,
    anchors: Anchors,
}

impl ShapesFixture {
    const ENTITY: &[u8] = b"Content-Type: text/plain\r\n\r\nfirmato\r\n";

    fn get() -> Option<&'static ShapesFixture> {
        use std::sync::OnceLock;
        static FIXTURE: OnceLock<Option<ShapesFixture>> = OnceLock::new();
        FIXTURE.get_or_init(ShapesFixture::make).as_ref()
    }

    fn make() -> Option<ShapesFixture> {
        use crate::crypto::certs;
        use crate::crypto::identity::Signer;
        use x509_cert::der::Encode;

        let ca = certs::dev_ca("Fuzz", 2048).ok()?;
        let leaf = certs::signing_certificate(&ca, "pec-a.test", "Gestore A", 2048).ok()?;
        let signer = Signer::new(leaf.certificate, leaf.key, vec![ca.certificate.clone()]).ok()?;
        let der = smime::sign_detached(&signer, ShapesFixture::ENTITY).ok()?;
        let mut signer_infos = Vec::new();
        smime::shapes::edit_signed_data(&der, |signed| {
            signer_infos = signed.signer_infos.to_der()?;
            Ok(())
        })
        .ok()?;
        Some(ShapesFixture {
            der,
            signer_infos,
            anchors: Anchors::from_certificates(vec![ca.certificate]).ok()?,
        })
    }
}

/// Everything FETCH and SEARCH compute from a stored message, on any bytes: envelope,
/// BODY and BODYSTRUCTURE, sections down nested parts, BINARY and the search text. The
/// message is split once and every item is asked of the split, as FETCH does.
pub fn imap_message(data: &[u8]) {
    let mime = message::MimeMessage::parse(data);
    let _ = mime.envelope();
    let _ = mime.body_structure(false);
    let _ = mime.body_structure(true);
    assert_eq!(mime.section(None, None), data, "BODY[] is the message");
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
            let full = mime.section(Some(section), None);
            let cut = mime.section(Some(section), Some((1, two)));
            let expected: Vec<u8> = full.iter().skip(1).take(2).copied().collect();
            assert_eq!(cut, expected, "<1.2> of {section:?}");
        }
        let _ = mime.binary(path, Some((0, two)));
        let _ = mime.binary_size(path);
    }
    let _ = message::SearchText::parse(data);
}

/// The IMAP input path on any bytes: framing, the extension pre-parser, the codec and
/// the session, through the exchange the transcript tests use, each input against a
/// fresh copy of the same store. Every login succeeds (as `fuzz@pec.test`) so the
/// authenticated and selected states are reached.
pub fn imap_session(data: &[u8]) {
    use crate::imap::exchange::Exchange;
    use crate::imap::exchange::LoginPolicy;
    use crate::imap::session::Session;
    use crate::imap::session::SessionConfig;
    use crate::imap::session::Transport;

    /// Any credentials open the one mailbox, with its own credential.
    struct Anyone(crate::store::mailbox::Credential);

    impl LoginPolicy for Anyone {
        fn check(
            &mut self,
            _user: &str,
            _password: &str,
        ) -> Option<(String, crate::store::mailbox::Credential)> {
            Some((FUZZ_USER.to_string(), self.0.clone()))
        }
    }

    let config = SessionConfig {
        hostname: "pec.test".into(),
        starttls: true,
        max_append_bytes: FUZZ_MAX_APPEND,
    };
    let hooks = std::sync::Arc::new(crate::imap::provider_hooks::ProviderHooks::default());
    let mut exchange = Exchange::new(Session::new(config, Transport::Tls, hooks), FUZZ_MAX_APPEND);
    PREPARED.with_borrow_mut(|prepared| {
        let Some(prepared) = prepared else {
            return;
        };
        let commits = prepared.store.commits();
        let before = *commits.borrow();
        // The session starts on TLS, so STARTTLS is refused and the drive never ends
        // for it.
        let _ = exchange.drive(
            &prepared.store,
            data,
            jiff::Timestamp::UNIX_EPOCH,
            &mut Anyone(prepared.credential.clone()),
        );
        // An input that committed nothing left the store as it found it, and restoring
        // costs a commit.
        if *commits.borrow() != before {
            prepared.start_over();
        }
    });
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
                Step::Authenticate { user, .. } => {
                    let credential = crate::store::mailbox::Credential::of(&user);
                    session.on_auth_result(AuthOutcome::Accepted(credential))
                }
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

#[cfg(test)]
mod tests {
    use super::IndexFixture;
    use crate::crypto::trust::load_index;

    /// The signed forms of `index_p7m` reach the verified path: each loads, with the
    /// fixture's anchors, the index it was made from.
    #[test]
    fn index_p7m_signs_what_the_anchors_accept() {
        let ldif = std::fs::read(root().join("tests/data/index/two-providers.ldif")).unwrap();
        let fixture = IndexFixture::get().unwrap();
        let providers = super::ProvidersIndex::from_ldif(&ldif)
            .unwrap()
            .providers()
            .len();
        for form in 0..3 {
            let signed = fixture.sign(form, &ldif).unwrap();
            let loaded = load_index(&signed, Some(&fixture.anchors)).unwrap();
            assert_eq!(loaded.index.providers().len(), providers, "form {form}");
            assert!(loaded.signed_by.is_some());
        }
    }

    fn root() -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }
}
