//! The reader: takes any message's bytes and says what it is (RFC 6109 §3.2, formal
//! correctness): a busta di trasporto, a busta di anomalia, one of the receipts and
//! notices, or ordinary mail; with its daticert, the original message it carries, and
//! every formal problem found. Only top-level headers decide the kind (a receipt quoted
//! inside a message is not one), matched case-insensitively as real providers vary their
//! case. Signatures are checked elsewhere (`crypto::smime`); this module never trusts
//! what it reads.

use std::collections::BTreeSet;

use mail_parser::MimeHeaders;
use mail_parser::PartType;

use crate::mail::address::shown_addresses;
use crate::mail::message::Message;
use crate::mail::message::MessageError;
use crate::pec::compose::DATICERT;
use crate::pec::compose::POSTACERT;
use crate::pec::daticert::Daticert;
use crate::pec::headers;
use crate::pec::headers::SubjectPrefix;
use crate::pec::kind::DaticertKind;
use crate::pec::kind::Kind;
use crate::pec::kind::ReceiptKind;
use crate::pec::kind::ReceiptType;

/// What the reader found in a message.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PecMessage {
    /// What the message is.
    pub kind: Kind,
    /// The bare `From` address.
    pub from: Option<String>,
    /// The `From` display name (`Per conto di: <sender>` on an envelope).
    pub from_name: Option<String>,
    /// The bare `Reply-To` address.
    pub reply_to: Option<String>,
    /// The `To` addresses.
    pub to: Vec<String>,
    /// The `Cc` addresses.
    pub cc: Vec<String>,
    /// The decoded subject.
    pub subject: Option<String>,
    /// The message's own Message-ID, with brackets.
    pub message_id: Option<String>,
    /// `X-Riferimento-Message-ID`: the client's original Message-ID.
    pub reference_message_id: Option<String>,
    /// `X-TipoRicevuta`.
    pub receipt_type: Option<ReceiptType>,
    /// `X-Mittente` (rilevazione virus only).
    pub original_sender: Option<String>,
    /// `X-VerificaSicurezza: errore` (virus notices).
    pub security_error: bool,
    /// Whether the top level is `multipart/signed`.
    pub signed: bool,
    /// The certification data, when present and valid.
    pub daticert: Option<Daticert>,
    /// Why a present daticert.xml was rejected.
    pub daticert_error: Option<String>,
    /// `postacert.eml` (or, in an anomaly, the received message), as carried.
    pub original: Option<Vec<u8>>,
    /// Formal non-conformities; empty for a well-formed PEC message.
    pub problems: Vec<String>,
}

impl PecMessage {
    /// Whether the message is a PEC message (not ordinary mail) without formal problems.
    pub fn is_well_formed_pec(&self) -> bool {
        self.kind != Kind::Ordinary && self.problems.is_empty()
    }
}

/// Reads a message. Fails only when the bytes are not a message at all.
pub fn read(raw: &[u8]) -> Result<PecMessage, MessageError> {
    Ok(read_message(&Message::parse(raw)?))
}

/// [`read`] of a message already parsed.
pub fn read_message(message: &Message<'_>) -> PecMessage {
    let mut problems = Vec::new();
    let kind = kind_of(message, &mut problems);
    let signed = message
        .parsed()
        .root_part()
        .content_type()
        .is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("signed"))
        });
    let (daticert_bytes, original) = find_parts(message, kind);
    let (daticert, daticert_error) = match daticert_bytes.map(|bytes| Daticert::parse(&bytes)) {
        Some(Ok(daticert)) => (Some(daticert), None),
        Some(Err(error)) => (None, Some(error.to_string())),
        None => (None, None),
    };
    let mut read = PecMessage {
        kind,
        from: message.addresses("From").into_iter().next(),
        from_name: message
            .parsed()
            .from()
            .and_then(|from| from.first())
            .and_then(|from| from.name())
            .map(str::to_string),
        reply_to: message.addresses("Reply-To").into_iter().next(),
        to: message.addresses("To"),
        cc: message.addresses("Cc"),
        subject: message.subject(),
        message_id: message.message_id(),
        reference_message_id: message.text(headers::REFERENCE_MESSAGE_ID),
        receipt_type: message
            .text(headers::RECEIPT_TYPE)
            .and_then(|v| ReceiptType::parse(&v)),
        original_sender: message.text(headers::ORIGINAL_SENDER),
        security_error: message
            .text(headers::SECURITY_CHECK)
            .is_some_and(|v| v.eq_ignore_ascii_case(headers::SECURITY_ERROR)),
        signed,
        daticert,
        daticert_error,
        original,
        problems: Vec::new(),
    };
    check_single_headers(message, &mut problems);
    check_form(&read, &mut problems);
    if kind != Kind::Ordinary {
        check_parse_complete(message.parsed(), signed, &mut problems);
    }
    read.problems = problems;
    read
}

fn kind_of(message: &Message<'_>, problems: &mut Vec<String>) -> Kind {
    if let Some(transport) = message.text(headers::TRANSPORT) {
        return match transport.to_ascii_lowercase().as_str() {
            headers::TRANSPORT_CERTIFIED => Kind::Transport,
            headers::TRANSPORT_ERROR => Kind::Anomaly,
            other => {
                problems.push(format!("unknown {} value {other:?}", headers::TRANSPORT));
                Kind::Ordinary
            }
        };
    }
    if let Some(receipt) = message.text(headers::RECEIPT) {
        return match ReceiptKind::parse(&receipt) {
            Some(kind) => Kind::Receipt(kind),
            None => {
                problems.push(format!("unknown {} value {receipt:?}", headers::RECEIPT));
                Kind::Ordinary
            }
        };
    }
    Kind::Ordinary
}

/// Finds daticert.xml (decoded) and the embedded original among the parts of the
/// signed entity (of the whole message when it is not signed): a part beside the
/// signature is not covered by it.
fn find_parts(message: &Message<'_>, kind: Kind) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let mut daticert = None;
    let mut original = None;
    let parsed = message.parsed();
    let searched = match signed_entity(parsed) {
        Some(entity) => descendants(parsed, entity),
        None => (1..parsed.parts.len()).collect(),
    };
    for part in searched.iter().filter_map(|&at| parsed.parts.get(at)) {
        let name = part.attachment_name().unwrap_or_default();
        match &part.body {
            PartType::Message(nested)
                if original.is_none()
                    && (name.eq_ignore_ascii_case(POSTACERT) || kind == Kind::Anomaly) =>
            {
                original = Some(nested.raw_message().to_vec());
            }
            PartType::Message(_) | PartType::Multipart(_) => {}
            _ if daticert.is_none() && name.eq_ignore_ascii_case(DATICERT) => {
                daticert = Some(part.contents().to_vec());
            }
            _ => {}
        }
    }
    (daticert, original)
}

/// The index of the first part of a top-level `multipart/signed`: what its signature covers.
fn signed_entity(parsed: &mail_parser::Message<'_>) -> Option<usize> {
    let root = parsed.parts.first()?;
    let signed = root.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("signed"))
    });
    let first = *root.sub_parts()?.first()?;
    signed.then(|| usize::try_from(first).ok()).flatten()
}

/// `at` and every part below it, in order (a nested message's parts are its own).
fn descendants(parsed: &mail_parser::Message<'_>, at: usize) -> Vec<usize> {
    let mut found = vec![at];
    let mut next = 0;
    while let Some(&part) = found.get(next) {
        next += 1;
        let children = parsed
            .parts
            .get(part)
            .and_then(|p| p.sub_parts())
            .unwrap_or_default();
        found.extend(
            children
                .iter()
                .filter_map(|&id| usize::try_from(id).ok())
                .filter(|id| *id > part),
        );
    }
    found.sort_unstable();
    found
}

/// A malformed nesting can end mail-parser's parse early, or make it file later parts
/// under an attached message: the signature part of a `multipart/signed` is then lost,
/// or a part hangs under no multipart. What such a parse shows is not what the signer
/// signed, so a PEC message read that way is never well-formed.
fn check_parse_complete(
    parsed: &mail_parser::Message<'_>,
    signed: bool,
    problems: &mut Vec<String>,
) {
    let cut_short = signed
        && parsed
            .root_part()
            .sub_parts()
            .is_none_or(|children| children.len() != 2);
    // Walked with a list, not by recursion: the nesting is the sender's choice.
    let mut pending = vec![parsed];
    let mut misfiled = false;
    while let Some(message) = pending.pop() {
        misfiled |= has_unheld_part(message);
        pending.extend(message.parts.iter().filter_map(|part| match &part.body {
            PartType::Message(nested) => Some(nested),
            _ => None,
        }));
    }
    if cut_short || misfiled {
        problems.push("the MIME structure is malformed or its parse cut short".to_string());
    }
}

/// Whether a part other than the root is no multipart's child.
fn has_unheld_part(message: &mail_parser::Message<'_>) -> bool {
    let held: BTreeSet<usize> = message
        .parts
        .iter()
        .flat_map(|part| part.sub_parts().unwrap_or_default())
        .filter_map(|&id| usize::try_from(id).ok())
        .collect();
    (1..message.parts.len()).any(|at| !held.contains(&at))
}

/// Headers RFC 5322 §3.6 and RFC 6109 allow once: with two, a client may show one and
/// pecd judge the other.
fn check_single_headers(message: &Message<'_>, problems: &mut Vec<String>) {
    const ONCE: [&str; 10] = [
        "From",
        "Sender",
        "Reply-To",
        "To",
        "Cc",
        "Subject",
        "Message-ID",
        headers::TRANSPORT,
        headers::RECEIPT,
        headers::RECEIPT_TYPE,
    ];
    for name in ONCE {
        if message.raw_values(name).len() > 1 {
            problems.push(format!("header {name} appears more than once"));
        }
    }
    if message.has(headers::TRANSPORT) && message.has(headers::RECEIPT) {
        problems.push(format!(
            "both {} and {}",
            headers::TRANSPORT,
            headers::RECEIPT
        ));
    }
}

/// The formal checks of RFC 6109 §3.2.
fn check_form(read: &PecMessage, problems: &mut Vec<String>) {
    let expected_prefix = match read.kind {
        Kind::Ordinary => return,
        Kind::Transport => SubjectPrefix::Transport,
        Kind::Anomaly => SubjectPrefix::Anomaly,
        Kind::Receipt(kind) => SubjectPrefix::for_receipt(kind, read.security_error),
    };
    if !read.signed {
        problems.push("not an S/MIME multipart/signed message".to_string());
    }
    let subject = read.subject.as_deref().unwrap_or_default();
    let prefix = format!("{}:", expected_prefix.as_str());
    if !subject
        .get(..prefix.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(&prefix))
    {
        problems.push(format!("subject does not start with {prefix:?}"));
    }
    if read.kind == Kind::Anomaly {
        if read.original.is_none() {
            problems.push("anomaly envelope carries no message".to_string());
        }
        return;
    }
    let expected_tipo = match read.kind {
        Kind::Receipt(kind) => DaticertKind::Receipt(kind),
        _ => DaticertKind::Transport,
    };
    match (&read.daticert, &read.daticert_error) {
        (Some(daticert), _) if daticert.kind != expected_tipo => problems.push(format!(
            "daticert tipo {} does not match the header kind {}",
            daticert.kind, read.kind
        )),
        (Some(_), _) => {}
        (None, Some(error)) => problems.push(format!("invalid {DATICERT}: {error}")),
        (None, None) => problems.push(format!("no {DATICERT} part")),
    }
    if read.kind == Kind::Transport && read.original.is_none() {
        problems.push(format!("transport envelope carries no {POSTACERT}"));
    }
    if let Some(daticert) = &read.daticert {
        check_binding(read, daticert, &prefix, problems);
    }
}

/// The outer headers are outside the signature: whoever relays a message can rewrite
/// them. What a client shows (subject, sender, recipients) and what pecd keys on (the
/// Message-ID) must therefore restate the signed daticert, or the message is not what
/// its signer certified.
fn check_binding(read: &PecMessage, daticert: &Daticert, prefix: &str, problems: &mut Vec<String>) {
    let header = &daticert.header;
    let subject = read.subject.as_deref().unwrap_or_default();
    let after_prefix = subject.get(prefix.len()..).unwrap_or_default();
    if words(after_prefix) != words(header.subject.as_deref().unwrap_or_default()) {
        problems.push("subject differs from the daticert oggetto".to_string());
    }
    if read.kind != Kind::Transport {
        return;
    }
    let identificativo = format!("<{}>", daticert.data.id);
    if read.message_id.as_deref() != Some(identificativo.as_str()) {
        problems.push("Message-ID differs from the daticert identificativo".to_string());
    }
    let outer: BTreeSet<String> = read
        .to
        .iter()
        .chain(&read.cc)
        .map(|a| a.to_ascii_lowercase())
        .collect();
    let certified: BTreeSet<String> = header
        .recipients
        .iter()
        .map(|r| r.address.to_ascii_lowercase())
        .collect();
    if outer != certified {
        problems.push("To and Cc differ from the daticert destinatari".to_string());
    }
    if read
        .reply_to
        .as_deref()
        .is_some_and(|reply_to| !reply_to.eq_ignore_ascii_case(&header.reply_to))
    {
        problems.push("Reply-To differs from the daticert risposte".to_string());
    }
    let named = read.from_name.as_deref().unwrap_or_default();
    if shown_addresses(named)
        .iter()
        .any(|address| !address.eq_ignore_ascii_case(&header.sender))
    {
        problems.push(
            "the From display name names someone other than the daticert mittente".to_string(),
        );
    }
}

/// Text compared word by word: folding and encoding may change the spacing.
fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}
