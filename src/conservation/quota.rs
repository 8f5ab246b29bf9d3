//! Conservation quotas: tiers (Small 1 GiB, Medium 5 GiB, XLarge 25 GiB by default,
//! configurable), the 70 % and 90 % alerts (once per crossing), and the pause at 100 %:
//! a package that would not fit is not built, its jobs stay queued, and ingest resumes
//! when the quota is raised. The alerts are signed messages filed in the user's INBOX.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::conservation::ConservationError;
use crate::crypto::identity::Signer;
use crate::crypto::smime;
use crate::pec::compose::HeaderList;
use crate::pec::compose::Unsigned;

/// One GiB.
pub const GIB: u64 = 1024 * 1024 * 1024;

/// The default tiers.
pub fn default_tiers() -> BTreeMap<String, u64> {
    BTreeMap::from([
        ("small".to_string(), GIB),
        ("medium".to_string(), 5 * GIB),
        ("xlarge".to_string(), 25 * GIB),
    ])
}

/// Which alerts (70, 90) are due once `used` bytes are conserved, given what was
/// already sent for the current quota.
pub fn crossings(used: u64, quota: u64, sent_70: bool, sent_90: bool) -> Vec<u8> {
    let reached = |percent: u64| used.saturating_mul(100) >= quota.saturating_mul(percent);
    let mut out = Vec::new();
    if !sent_70 && reached(70) {
        out.push(70);
    }
    if !sent_90 && reached(90) {
        out.push(90);
    }
    out
}

/// A signed alert to `mailbox` from the provider's service address: `percent` of the
/// conservation quota is used (100: ingest is paused).
pub fn alert(
    signer: &Signer,
    domain: &str,
    mailbox: &str,
    percent: u8,
    used: u64,
    quota: u64,
    now: Timestamp,
) -> Result<(Vec<u8>, String), ConservationError> {
    let service = crate::pec::headers::service_address(domain);
    let mut unique = [0u8; 8];
    openssl::rand::rand_bytes(&mut unique)?;
    let message_id = format!(
        "conservazione-{}-{}@{domain}",
        now.as_second(),
        hex::encode(unique)
    );
    let (subject, text) = wording(mailbox, percent, used, quota);
    let headers = HeaderList::new()
        .raw(
            "Date",
            &now.to_zoned(jiff::tz::TimeZone::UTC)
                .strftime("%a, %d %b %Y %H:%M:%S +0000")
                .to_string(),
        )
        .address("From", Some("Servizio di conservazione"), &service)
        .address("To", None, mailbox)
        .text("Subject", &subject)
        .message_id("Message-ID", &message_id)
        .raw("X-Conservazione-Avviso", &percent.to_string())
        .finish();
    let entity = format!(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}"
    )
    .into_bytes();
    let signed = smime::sign(
        signer,
        &Unsigned {
            headers,
            entity,
            daticert: None,
        },
    )?;
    Ok((signed, message_id))
}

/// The alert's subject and text, in Italian, for the user.
fn wording(mailbox: &str, percent: u8, used: u64, quota: u64) -> (String, String) {
    if percent >= 100 {
        (
            "AVVISO: spazio di conservazione esaurito".to_string(),
            format!(
                "Lo spazio di conservazione della casella {mailbox} e' esaurito ({used} di {quota} byte).\r\n\
                 La conservazione dei nuovi messaggi e' sospesa: nessun messaggio e' perso, \
                 riprendera' quando lo spazio sara' aumentato.\r\n"
            ),
        )
    } else {
        (
            format!("AVVISO: spazio di conservazione al {percent}%"),
            format!(
                "La casella {mailbox} ha usato il {percent}% dello spazio di conservazione \
                 ({used} di {quota} byte).\r\n"
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_threshold_is_crossed_once() {
        assert_eq!(crossings(69, 100, false, false), Vec::<u8>::new());
        assert_eq!(crossings(70, 100, false, false), vec![70]);
        assert_eq!(crossings(80, 100, true, false), Vec::<u8>::new());
        assert_eq!(crossings(95, 100, true, false), vec![90]);
        assert_eq!(crossings(95, 100, false, false), vec![70, 90]);
        assert_eq!(crossings(99, 100, true, true), Vec::<u8>::new());
    }
}
