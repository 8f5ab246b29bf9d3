//! `daticert.xml`, the certification data every PEC message carries (RFC 6109 §4.4 and
//! its DTD).
//!
//! [`Daticert`] models the whole DTD; [`Daticert::to_xml`] writes the serialization real
//! providers use (UTF-8 declaration, four-space indent, `msgid` escaped as
//! `&lt;…&gt;`, `<ricevuta tipo="…" />`), and [`Daticert::parse`] reads what real
//! providers send and rejects what the DTD forbids with a precise [`DaticertError`].

mod parse;
mod write;

pub use parse::DaticertError;
pub use parse::MAX_DATICERT_BYTES;
#[doc(hidden)]
pub use parse::fuzz_round_trip;

use crate::pec::kind::DaticertKind;
use crate::pec::kind::ErrorCode;
use crate::pec::kind::ReceiptType;
use crate::pec::kind::RecipientType;
use crate::pec::time::LocalTime;

/// The certification data (`<postacert>`).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Daticert {
    /// `tipo`: which message this is.
    pub kind: DaticertKind,
    /// `errore`: the error class (default `nessuno`).
    pub error: ErrorCode,
    /// `<intestazione>`: the original message's header data.
    pub header: Intestazione,
    /// `<dati>`: the certification data proper.
    pub data: Dati,
}

/// `<intestazione>`: who sent the original, to whom, and its subject.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Intestazione {
    /// `<mittente>`: the original sender (the SMTP reverse-path).
    pub sender: String,
    /// `<destinatari>`: one per To/Cc recipient; the DTD requires at least one.
    pub recipients: Vec<Recipient>,
    /// `<risposte>`: the original Reply-To, or the sender when there is none.
    pub reply_to: String,
    /// `<oggetto>`: the original Subject, when present.
    pub subject: Option<String>,
}

/// One `<destinatari tipo="…">` element.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Recipient {
    /// The address as written.
    pub address: String,
    /// `certificato` (a PEC mailbox) or `esterno` (ordinary mail).
    pub kind: RecipientType,
}

/// `<dati>`: the provider's certification of the event.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Dati {
    /// `<gestore-emittente>`: the issuing provider's name.
    pub issuer: String,
    /// `<data zona="…"><giorno/><ora/></data>`: when the event happened.
    pub time: LocalTime,
    /// `<identificativo>`: the PEC msgid of the transport envelope, without brackets.
    pub id: String,
    /// `<msgid>`: the client's original Message-ID, as written (usually with brackets).
    pub msgid: Option<String>,
    /// `<ricevuta tipo="…" />`: the receipt type (envelopes and delivery receipts).
    pub receipt_type: Option<ReceiptType>,
    /// `<consegna>`: the recipient delivery was made or attempted to.
    pub delivery: Option<String>,
    /// `<ricezione>`: the recipients a presa in carico covers.
    pub receptions: Vec<String>,
    /// `<errore-esteso>`: the error description (NOTA 12 style, e.g. `5.1.1 - … - …`).
    pub extended_error: Option<String>,
}

/// Whether XML 1.0 can carry `c` (its `Char` production; Rust's `char` already excludes
/// surrogates): what the writer may put in a document and the parser accepts in one.
fn is_xml_char(c: char) -> bool {
    !((c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') || matches!(c, '\u{fffe}' | '\u{ffff}'))
}

#[cfg(test)]
mod tests;
