//! "Is this valid PEC?" (RFC 6109 §2.2.2 and §7): the four checks a punto di
//! ricezione runs on everything that arrives, each reported on its own:
//!
//! 1. signature existence: an S/MIME `multipart/signed` structure is present;
//! 2. signature origin: the signer certificate's SHA-1 is in the providers index, the
//!    certificate equals the one listed, and the `From` domain is among that provider's
//!    `managedDomains`;
//! 3. signature validity: the signature verifies, the chain reaches a trust anchor, and
//!    the certificate was valid when the message was signed;
//! 4. formal correctness: the message is a well-formed envelope or receipt
//!    ([`crate::pec::reader`]).
//!
//! An expired certificate is a reported condition, not a broken signature.

use jiff::Timestamp;

use crate::crypto::smime;
use crate::crypto::smime::Anchors;
use crate::crypto::smime::ChainStatus;
use crate::crypto::smime::SignatureReport;
use crate::mail::message::Message;
use crate::mail::message::MessageError;
use crate::pec::index::ProvidersIndex;
use crate::pec::reader;
use crate::pec::reader::PecMessage;

/// Everything the checks found about one message.
#[derive(Debug)]
pub struct Validation {
    /// The reader's view: kind, daticert, original, formal problems.
    pub message: PecMessage,
    /// The signature checks; `None` when there is no usable `multipart/signed`.
    pub signature: Option<SignatureReport>,
    /// Why no signature could be checked (absent, malformed structure).
    pub signature_error: Option<String>,
    /// The index checks; `None` when no index was given.
    pub index: Option<IndexCheck>,
    /// Whether a trust anchor was configured (so the chain status counts).
    pub anchors_given: bool,
}

/// The providers-index checks (RFC 6109 §4.5).
#[derive(Clone, Debug, Eq, PartialEq, serde::Serialize)]
pub struct IndexCheck {
    /// The signer certificate's SHA-1 is listed.
    pub in_index: bool,
    /// The provider it is listed under.
    pub provider: Option<String>,
    /// That provider's `mailReceipt` service mailbox.
    pub mail_receipt: Option<String>,
    /// The certificate itself equals one the provider's record holds.
    pub certificate_matches: bool,
    /// The `From` domain is among the provider's `managedDomains`.
    pub from_domain_managed: bool,
    /// The daticert `mittente` domain is among them too: a busta di trasporto is
    /// signed by the sender's own provider. `None` without a daticert.
    pub sender_domain_managed: Option<bool>,
}

impl Validation {
    /// Runs every check on a message's bytes. Fails only if the bytes are not a message.
    pub fn check(
        raw: &[u8],
        anchors: Option<&Anchors>,
        index: Option<&ProvidersIndex>,
        now: Timestamp,
    ) -> Result<Validation, MessageError> {
        // One parse serves the reader and the signature split.
        let parsed = Message::parse(raw)?;
        let message = reader::read_message(&parsed);
        let verified = smime::split_parsed(parsed.parsed()).and_then(|parts| {
            let report = match anchors {
                Some(anchors) => smime::verify(&parts.entity, &parts.signature, anchors, now),
                None => smime::verify(&parts.entity, &parts.signature, &Anchors::empty()?, now),
            };
            Ok(report)
        });
        let (signature, signature_error) = match verified {
            Ok(report) => (Some(report), None),
            Err(error) => (None, Some(error.to_string())),
        };
        let index = index.map(|index| index_check(index, &message, signature.as_ref()));
        Ok(Validation {
            message,
            signature,
            signature_error,
            index,
            anchors_given: anchors.is_some(),
        })
    }

    /// Why this is not valid PEC; empty when it is.
    pub fn reasons(&self) -> Vec<String> {
        let mut reasons = self.message.problems.clone();
        if self.message.kind == crate::pec::kind::Kind::Ordinary {
            reasons.push("not a PEC message (no X-Trasporto or X-Ricevuta header)".to_string());
        }
        match &self.signature {
            None => reasons.push(format!(
                "no verifiable signature: {}",
                self.signature_error.as_deref().unwrap_or("absent")
            )),
            Some(report) => {
                if !report.valid {
                    reasons.push(format!(
                        "bad signature: {}",
                        report.error.as_deref().unwrap_or("does not verify")
                    ));
                }
                if report.valid_at_signing_time == Some(false)
                    || (report.valid_at_signing_time.is_none()
                        && (report.expired || report.not_yet_valid))
                {
                    reasons.push(
                        "the signer certificate was not valid when the message was signed"
                            .to_string(),
                    );
                }
                if let (true, ChainStatus::Untrusted { reason }) =
                    (self.anchors_given, &report.chain)
                {
                    reasons.push(format!(
                        "the signer certificate does not chain to a trust anchor: {reason}"
                    ));
                }
            }
        }
        if let Some(index) = &self.index {
            if !index.in_index {
                reasons.push("the signer is not in the providers index".to_string());
            } else if !index.certificate_matches {
                reasons
                    .push("the signer certificate differs from the one in the index".to_string());
            }
            if index.in_index && !index.from_domain_managed {
                reasons.push("the From domain is not managed by the signing provider".to_string());
            }
            if index.in_index
                && self.message.kind == crate::pec::kind::Kind::Transport
                && index.sender_domain_managed == Some(false)
            {
                reasons.push(
                    "the daticert mittente is not of a domain the signing provider manages"
                        .to_string(),
                );
            }
        }
        reasons
    }

    /// Whether every check passed.
    pub fn is_valid_pec(&self) -> bool {
        self.reasons().is_empty()
    }
}

fn index_check(
    index: &ProvidersIndex,
    message: &PecMessage,
    signature: Option<&SignatureReport>,
) -> IndexCheck {
    let signer = signature.and_then(|report| report.signer.as_ref());
    let provider = signer.and_then(|signer| index.by_certificate_sha1(&signer.sha1));
    let from_domain = message
        .from
        .as_deref()
        .and_then(|from| from.rsplit_once('@'))
        .map(|(_, domain)| domain);
    IndexCheck {
        in_index: provider.is_some(),
        provider: provider.map(|p| p.name.clone()),
        mail_receipt: provider.map(|p| p.mail_receipt.clone()),
        certificate_matches: match (provider, signer) {
            (Some(provider), Some(signer)) => provider.certificates.contains(&signer.der),
            _ => false,
        },
        from_domain_managed: match (provider, from_domain) {
            (Some(provider), Some(domain)) => provider.manages(domain),
            _ => false,
        },
        sender_domain_managed: message.daticert.as_ref().map(|daticert| {
            let sender = &daticert.header.sender;
            let domain = sender.rsplit_once('@').map_or("", |(_, domain)| domain);
            provider.is_some_and(|provider| provider.manages(domain))
        }),
    }
}
