//! A sent message's delivery state as its receipts tell it, and the IMAP keywords that
//! show it in any mail client (README, "IMAP keywords"). Pure: the provider records each
//! receipt's daticert here and sets the keywords on the sender's `Sent` copy.

use serde::Deserialize;
use serde::Serialize;

use crate::pec::daticert::Daticert;
use crate::pec::kind::DaticertKind;
use crate::pec::kind::ReceiptKind;
use crate::pec::kind::RecipientType;

/// The ricevuta di accettazione arrived.
pub const ACCEPTED: &str = "$PecAccettato";
/// The avviso di non accettazione arrived: the message never left.
pub const NOT_ACCEPTED: &str = "$PecNonAccettato";
/// Every certified recipient has an avvenuta consegna.
pub const DELIVERED: &str = "$PecConsegnato";
/// Some, not all, certified recipients have an avvenuta consegna.
pub const PARTLY_DELIVERED: &str = "$PecConsegnaParziale";
/// At least one avviso di mancata consegna (including 24 h and virus).
pub const NOT_DELIVERED: &str = "$PecMancataConsegna";
/// The 12 h preavviso di mancata consegna arrived.
pub const WARNED: &str = "$PecPreavviso";

/// Every keyword this module sets, so stale ones can be removed.
pub const ALL: [&str; 6] = [
    ACCEPTED,
    NOT_ACCEPTED,
    DELIVERED,
    PARTLY_DELIVERED,
    NOT_DELIVERED,
    WARNED,
];

/// What the receipts of one sent message said so far.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct DeliveryStatus {
    /// Accepted by the punto di accesso.
    pub accepted: bool,
    /// Refused by the punto di accesso.
    pub refused: bool,
    /// The certified (PEC) recipients, from the accettazione.
    pub certified: Vec<String>,
    /// Recipients with an avvenuta consegna.
    pub delivered: Vec<String>,
    /// Recipients with an avviso di mancata consegna.
    pub failed: Vec<String>,
    /// A 12 h preavviso arrived.
    pub warned: bool,
}

impl DeliveryStatus {
    /// Takes one receipt or notice into account.
    pub fn record(&mut self, daticert: &Daticert) {
        let DaticertKind::Receipt(kind) = daticert.kind else {
            return;
        };
        let recipient = daticert
            .data
            .delivery
            .as_deref()
            .map(str::to_ascii_lowercase);
        match kind {
            ReceiptKind::Acceptance => {
                self.accepted = true;
                self.certified = daticert
                    .header
                    .recipients
                    .iter()
                    .filter(|r| r.kind == RecipientType::Certified)
                    .map(|r| r.address.to_ascii_lowercase())
                    .collect();
            }
            ReceiptKind::NonAcceptance => self.refused = true,
            ReceiptKind::Delivered => add(&mut self.delivered, recipient),
            ReceiptKind::DeliveryError => add(&mut self.failed, recipient),
            ReceiptKind::DeliveryWarning => self.warned = true,
            ReceiptKind::TakenInCharge | ReceiptKind::VirusDetected => {}
        }
    }

    /// The keywords the sent copy carries now.
    pub fn keywords(&self) -> Vec<&'static str> {
        let mut keywords = Vec::new();
        if self.accepted {
            keywords.push(ACCEPTED);
        }
        if self.refused {
            keywords.push(NOT_ACCEPTED);
        }
        let delivered = self
            .certified
            .iter()
            .filter(|r| self.delivered.contains(r))
            .count();
        if !self.certified.is_empty() && delivered == self.certified.len() {
            keywords.push(DELIVERED);
        } else if delivered > 0 || (!self.delivered.is_empty() && self.certified.is_empty()) {
            keywords.push(PARTLY_DELIVERED);
        }
        if !self.failed.is_empty() {
            keywords.push(NOT_DELIVERED);
        }
        if self.warned && delivered < self.certified.len() {
            keywords.push(WARNED);
        }
        keywords
    }
}

fn add(list: &mut Vec<String>, recipient: Option<String>) {
    if let Some(recipient) = recipient
        && !list.contains(&recipient)
    {
        list.push(recipient);
    }
}
