//! S/MIME for PEC: signs every provider-generated message and verifies the messages of
//! other providers (RFC 6109 §2.1 and §5.1, pec.md §3 and §8 steps 1–3).
//!
//! * [`sign`] wraps a [`Unsigned`](crate::pec::compose::Unsigned) message (RFC 6109 §4.3 layout, built by
//!   `pec::compose`) in `multipart/signed` with a detached CMS signature (RFC 5751
//!   §3.4.3): SHA-256 with RSA, the signer certificate and its chain included.
//! * [`split_signed`] takes a received message apart into the exact signed entity and
//!   the DER signature; [`verify`] checks them and reports each fact separately
//!   ([`SignatureReport`]): signature, signer, chain, validity period. Deciding what a
//!   report means for the message (busta di anomalia, ordinary mail) is the caller's job.
//!
//! Everything pecd signs goes through [`sign`]; everything from another provider passes
//! [`verify`] before anything acts on it (lib.rs invariants).

use std::io;
use std::path::PathBuf;

use openssl::error::ErrorStack;

mod anchors;
pub mod shapes;
mod sign;
mod split;
#[cfg(test)]
pub(crate) mod testing;
mod verify;

pub use anchors::Anchors;
pub(crate) use sign::Template;
pub use sign::sign;
pub use sign::sign_detached;
pub use split::SignedParts;
pub use split::split_parsed;
pub use split::split_signed;
pub use verify::ChainStatus;
pub use verify::SignatureReport;
pub use verify::SignerCertificate;
pub use verify::verify;

/// Why signing failed, or why a message is not a `multipart/signed` S/MIME message.
#[derive(Debug, thiserror::Error)]
pub enum SmimeError {
    /// OpenSSL could not produce the signature.
    #[error("cannot sign: {0}")]
    Sign(#[source] ErrorStack),
    /// A header field name or value would corrupt the message (bare CR or LF, a line
    /// not continued by whitespace, a name with a colon or control character).
    #[error("header field {name:?} is not well formed")]
    InvalidHeader {
        /// The offending field name.
        name: String,
    },
    /// A header field that [`sign`] writes itself was supplied.
    #[error("header field {name} is written by the signer and must not be supplied")]
    ReservedHeader {
        /// The field name.
        name: String,
    },
    /// No boundary free of collisions with the entity could be drawn.
    #[error("no multipart boundary absent from the entity could be drawn")]
    Boundary,
    /// The bytes do not parse as a MIME message.
    #[error("not a MIME message")]
    NotMime,
    /// The top-level entity is not `multipart/signed`.
    #[error("message is {content_type}, not multipart/signed")]
    NotSigned {
        /// The top-level content type found.
        content_type: String,
    },
    /// The `protocol` parameter names something other than a PKCS#7 signature.
    #[error("multipart/signed protocol {protocol:?} is not application/(x-)pkcs7-signature")]
    WrongProtocol {
        /// The protocol found (empty when absent).
        protocol: String,
    },
    /// `multipart/signed` must hold exactly two parts (RFC 1847 §2.1).
    #[error("multipart/signed holds {found} parts instead of 2")]
    PartCount {
        /// How many parts were found.
        found: usize,
    },
    /// mail-parser's parts of the `multipart/signed` do not sit where its delimiter lines
    /// are: a parse cut short or led astray by a malformed nesting, which must not be
    /// trusted to say what the signature covers.
    #[error("multipart/signed parts disagree with its delimiter lines: {0}")]
    Delimiters(&'static str),
    /// The signature part's transfer encoding is neither base64 nor an identity one.
    #[error("signature part has unsupported transfer encoding {encoding:?}")]
    UnsupportedEncoding {
        /// The encoding found.
        encoding: String,
    },
    /// The signature part is not valid base64.
    #[error("signature part is not valid base64: {0}")]
    BadBase64(#[source] base64::DecodeError),
    /// A trust-anchor file could not be read.
    #[error("cannot read trust anchors {}: {source}", path.display())]
    ReadAnchors {
        /// The file.
        path: PathBuf,
        /// The I/O failure.
        source: io::Error,
    },
    /// A trust-anchor file holds no PEM certificate, or one that does not parse.
    #[error("trust anchors {} hold no valid PEM certificate", path.display())]
    ParseAnchors {
        /// The file.
        path: PathBuf,
    },
    /// OpenSSL could not build the trust store.
    #[error("cannot build the trust store: {0}")]
    Store(#[source] ErrorStack),
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::process::Command;

    use jiff::SignedDuration;
    use jiff::Timestamp;

    use super::testing::aruba_2014;
    use super::testing::pki;
    use super::testing::replace;
    use super::testing::same_names_other_key;
    use super::testing::unsigned;
    use super::*;
    use crate::crypto::certs;
    use crate::crypto::identity::Signer;

    fn anchors_ca() -> Anchors {
        Anchors::from_certificates(vec![pki().ca.certificate.clone()]).unwrap()
    }

    fn signed() -> Vec<u8> {
        sign(&pki().signer, &unsigned()).unwrap()
    }

    fn report_of(message: &[u8], anchors: &Anchors) -> SignatureReport {
        let parts = split_signed(message).unwrap();
        verify(&parts.entity, &parts.signature, anchors, Timestamp::now())
    }

    #[test]
    fn signed_message_splits_and_verifies_trusted_against_its_ca() {
        let message = signed();
        let parts = split_signed(&message).unwrap();
        assert_eq!(parts.protocol, "application/pkcs7-signature");
        assert_eq!(parts.micalg.as_deref(), Some("sha-256"));
        let parsed = mail_parser::MessageParser::default()
            .parse(&message)
            .unwrap();
        assert_eq!(split_parsed(&parsed).unwrap(), parts);

        let report = verify(
            &parts.entity,
            &parts.signature,
            &anchors_ca(),
            Timestamp::now(),
        );
        assert!(report.valid, "{report:?}");
        assert_eq!(report.error, None);
        assert_eq!(report.digest.as_deref(), Some("sha256"));
        assert_eq!(report.chain, ChainStatus::Trusted);
        assert!(!report.expired && !report.not_yet_valid);
        assert_eq!(report.valid_at_signing_time, Some(true));
        let signing_time = report.signing_time.unwrap();
        assert!(Timestamp::now().duration_since(signing_time).abs() < SignedDuration::from_mins(5));
        let signer = report.signer.unwrap();
        assert_eq!(
            signer.email.as_deref(),
            Some("posta-certificata@pec-a.test")
        );
        assert_eq!(signer.sha1, pki().signer.sha1_hex());
        assert_eq!(signer.der, pki().signer.certificate_der());
        assert_eq!(
            signer.subject,
            "C=IT, O=Gestore A, CN=Posta Certificata Gestore A"
        );
        assert_eq!(signer.issuer, "CN=Gestore A Dev CA");
        let serial = pki().signer.certificate().serial_number().to_bn().unwrap();
        assert_eq!(signer.serial, serial.to_hex_str().unwrap().to_string());
    }

    #[test]
    fn openssl_binary_accepts_our_signature_and_outputs_the_entity() {
        let dir = tempfile::tempdir().unwrap();
        let message_path = dir.path().join("msg.eml");
        let ca_path = dir.path().join("ca.pem");
        let content_path = dir.path().join("content.out");
        fs::write(&message_path, signed()).unwrap();
        fs::write(&ca_path, pki().ca.certificate_pem().unwrap()).unwrap();

        let output = Command::new("openssl")
            .args(["smime", "-verify", "-CAfile"])
            .arg(&ca_path)
            .arg("-in")
            .arg(&message_path)
            .arg("-out")
            .arg(&content_path)
            .output()
            .unwrap_or_else(|error| {
                panic!("the openssl binary is required for this test: {error}")
            });
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "openssl smime -verify refused it: {stderr}"
        );
        assert!(stderr.contains("Verification successful"), "{stderr}");
        assert_eq!(fs::read(&content_path).unwrap(), unsigned().entity);
    }

    #[test]
    fn signed_part_is_the_entity_byte_for_byte_and_layout_is_crlf() {
        let message = signed();
        let input = unsigned();
        assert_eq!(split_signed(&message).unwrap().entity, input.entity);
        assert_eq!(
            replace(&message, &input.entity, b"").len(),
            message.len() - input.entity.len()
        );

        let text = String::from_utf8(message).unwrap();
        assert!(
            !text.replace("\r\n", "").contains(['\r', '\n']),
            "bare CR or LF"
        );
        assert!(text.starts_with("From: posta-certificata@pec-a.test\r\n"));
        assert!(text.contains("\r\nSubject: =?iso-8859-1?Q?ACCETTAZIONE"));
        assert!(text.contains("\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n\tmicalg=\"sha-256\"; boundary=\""));
        assert!(text.contains("\r\n\r\nThis is an S/MIME signed message\r\n"));
        assert!(text.contains("Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n"));
        assert!(text.ends_with("--\r\n"));
        let (_, signature) = text.split_once("filename=\"smime.p7s\"\r\n\r\n").unwrap();
        let lines: Vec<&str> = signature
            .split("\r\n")
            .take_while(|line| !line.starts_with("--"))
            .collect();
        assert!(lines.len() > 2);
        let (last, full) = lines.split_last().unwrap();
        assert!(full.iter().all(|line| line.len() == 76), "{lines:?}");
        assert!(!last.is_empty() && last.len() <= 76);
    }

    #[test]
    fn one_flipped_byte_in_the_signed_part_invalidates_the_signature() {
        let message = replace(&signed(), b"stato accettato", b"stato accettata");
        let report = report_of(&message, &anchors_ca());
        assert!(!report.valid, "{report:?}");
        assert!(report.error.is_some());
        // The other facts are still reported.
        assert_eq!(report.chain, ChainStatus::Trusted);
        assert!(report.signer.is_some());
    }

    #[test]
    fn swapped_in_certificate_of_another_key_is_reported_as_invalid() {
        let genuine = pki().signer.certificate();
        let impostor = same_names_other_key(genuine);
        let genuine_der = genuine.to_der().unwrap();
        let impostor_der = impostor.to_der().unwrap();
        assert_eq!(genuine_der.len(), impostor_der.len());

        let parts = split_signed(&signed()).unwrap();
        let swapped = replace(&parts.signature, &genuine_der, &impostor_der);
        let report = verify(&parts.entity, &swapped, &anchors_ca(), Timestamp::now());

        assert!(!report.valid, "{report:?}");
        assert!(report.error.as_deref().unwrap().contains("does not verify"));
        let signer = report.signer.unwrap();
        assert_eq!(signer.der, impostor_der);
        assert_ne!(signer.sha1, pki().signer.sha1_hex());
        // The impostor really is issued by the CA: only the signature check catches it.
        assert_eq!(report.chain, ChainStatus::Trusted);
    }

    #[test]
    fn unknown_ca_gives_untrusted_chain_but_valid_signature() {
        let stranger = certs::dev_ca("Stranger", 2048).unwrap();
        let anchors = Anchors::from_certificates(vec![stranger.certificate]).unwrap();
        let report = report_of(&signed(), &anchors);
        assert!(report.valid, "{report:?}");
        let ChainStatus::Untrusted { reason } = &report.chain else {
            panic!("chain should be untrusted: {report:?}");
        };
        assert!(reason.contains("issuer certificate"), "{reason}");

        let report = report_of(&signed(), &Anchors::empty().unwrap());
        assert!(report.valid);
        assert!(matches!(report.chain, ChainStatus::Untrusted { .. }));
    }

    #[test]
    fn provider_certificate_from_the_index_is_a_sufficient_anchor() {
        let own = pki().signer.certificate().to_owned();
        let report = report_of(&signed(), &Anchors::from_certificates(vec![own]).unwrap());
        assert!(report.valid);
        assert_eq!(report.chain, ChainStatus::Trusted);
    }

    #[test]
    fn expired_certificate_still_verifies_and_is_reported_expired() {
        let now = Timestamp::now();
        let day = SignedDuration::from_hours(24);
        let old = certs::signing_certificate_for_period(
            &pki().ca,
            "pec-a.test",
            "Gestore A",
            2048,
            now - day * 1100,
            now - day * 10,
        )
        .unwrap();
        let signer = Signer::new(old.certificate, old.key, Vec::new()).unwrap();
        let message = sign(&signer, &unsigned()).unwrap();
        let report = report_of(&message, &anchors_ca());

        assert!(report.valid, "{report:?}");
        assert!(report.expired);
        assert!(!report.not_yet_valid);
        assert_eq!(
            report.chain,
            ChainStatus::Trusted,
            "time must not affect the chain"
        );
        assert_eq!(report.valid_at_signing_time, Some(false));

        // Checked as of a moment inside the period, the same certificate is not expired.
        let parts = split_signed(&message).unwrap();
        let then = verify(
            &parts.entity,
            &parts.signature,
            &anchors_ca(),
            now - day * 500,
        );
        assert!(then.valid && !then.expired && !then.not_yet_valid);
        let before = verify(
            &parts.entity,
            &parts.signature,
            &anchors_ca(),
            now - day * 2000,
        );
        assert!(before.not_yet_valid && !before.expired);
    }

    #[test]
    fn x_pkcs7_signature_protocol_is_accepted_in_any_case() {
        for protocol in [
            "application/x-pkcs7-signature",
            "Application/X-PKCS7-Signature",
        ] {
            let message = replace(
                &signed(),
                b"protocol=\"application/pkcs7-signature\"",
                format!("protocol=\"{protocol}\"").as_bytes(),
            );
            let parts = split_signed(&message).unwrap();
            assert_eq!(parts.protocol, protocol);
            let report = verify(
                &parts.entity,
                &parts.signature,
                &anchors_ca(),
                Timestamp::now(),
            );
            assert!(report.valid, "{report:?}");
        }
    }

    #[test]
    fn real_aruba_2014_signatures_verify_and_are_reported_expired() {
        let Some(files) = aruba_2014() else { return };
        let anchors = Anchors::empty().unwrap();
        for file in files {
            let message = fs::read(&file).unwrap();
            let parts = split_signed(&message).unwrap();
            assert_eq!(parts.protocol, "application/x-pkcs7-signature", "{file:?}");
            assert_eq!(parts.micalg.as_deref(), Some("sha1"), "{file:?}");

            let report = verify(&parts.entity, &parts.signature, &anchors, Timestamp::now());
            assert!(report.valid, "{file:?}: {report:?}");
            assert_eq!(report.digest.as_deref(), Some("sha1"));
            assert!(report.expired);
            assert_eq!(report.valid_at_signing_time, Some(true));
            assert!(matches!(report.chain, ChainStatus::Untrusted { .. }));
            let signing_time = report.signing_time.unwrap();
            assert!(
                signing_time.to_string().starts_with("2014-11-"),
                "{signing_time}"
            );
            let signer = report.signer.unwrap();
            assert_eq!(
                signer.email.as_deref(),
                Some("posta-certificata@pec.aruba.it")
            );
            assert!(signer.subject.contains("CN=Posta Certificata ARUBA PEC"));
            assert!(signer.issuer.contains("CN=DigitPA CA1"));
        }
    }
}
