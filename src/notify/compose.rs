//! The Italian texts of the mails that carry a one-time link (activation, new
//! password), written with mail-builder: the mailbox address, where a mail client
//! connects, the link and until when it works. Never a password: the holder chooses
//! it on the link's page.

use jiff::Timestamp;
use mail_builder::MessageBuilder;

use crate::notify::NotifySettings;
use crate::pec::time::LocalTime;
use crate::store::links::LinkPurpose;

/// One mail carrying a link.
#[derive(Clone, Copy, Debug)]
pub struct LinkMail<'a> {
    /// The recipient.
    pub to: &'a str,
    /// The mailbox whose password the link sets.
    pub mailbox: &'a str,
    /// Activation or new password.
    pub purpose: LinkPurpose,
    /// The whole link.
    pub url: &'a str,
    /// Until when it works.
    pub expires: Timestamp,
}

/// The mail, ready for the smarthost, with `message_id` (without angle brackets) and
/// dated `now`.
pub fn link_mail(
    settings: &NotifySettings,
    mail: &LinkMail<'_>,
    message_id: &str,
    now: Timestamp,
) -> Vec<u8> {
    let subject = match mail.purpose {
        LinkPurpose::Activation => format!("Attivazione della casella PEC {}", mail.mailbox),
        LinkPurpose::NewPassword => format!("Nuova password per la casella PEC {}", mail.mailbox),
    };
    let mut out = Vec::new();
    MessageBuilder::new()
        .from((settings.provider_name.as_str(), settings.from.as_str()))
        .to(mail.to)
        .subject(subject)
        .message_id(message_id.to_string())
        .date(now.as_second())
        .header(
            "Auto-Submitted",
            mail_builder::headers::raw::Raw::new("auto-generated"),
        )
        .text_body(text(settings, mail))
        .serialize(&mut out);
    out
}

/// The body.
fn text(settings: &NotifySettings, mail: &LinkMail<'_>) -> String {
    let expires = LocalTime::italian(mail.expires);
    let servers = &settings.servers;
    let opening = match mail.purpose {
        LinkPurpose::Activation => format!(
            "la casella di posta elettronica certificata {} è attiva.\n\
             Per usarla scelga la sua password dal link qui sotto.",
            mail.mailbox
        ),
        LinkPurpose::NewPassword => format!(
            "è stata chiesta una nuova password per la casella di posta elettronica \
             certificata {}.\nLa sceglie dal link qui sotto; fino ad allora resta valida \
             la password attuale.",
            mail.mailbox
        ),
    };
    format!(
        "Gentile titolare,\n\n\
         {opening}\n\n\
         {url}\n\n\
         Il link vale una sola volta, fino al {day} alle ore {hour}. Se è scaduto, \
         chieda un nuovo link al suo gestore o al suo referente.\n\n\
         Poi imposti il suo programma di posta così:\n\
         \x20 nome utente: {mailbox}\n\
         \x20 posta in arrivo (IMAP): {host}, porta {imaps} (SSL/TLS) oppure {imap} (STARTTLS)\n\
         \x20 posta in uscita (SMTP): {host}, porta {submissions} (SSL/TLS) oppure \
         {submission} (STARTTLS), con autenticazione (stesso nome utente e password)\n\n\
         Questo messaggio non contiene la password e nessuno gliela chiederà mai per \
         e-mail o per telefono. Se non si aspettava questo messaggio, lo ignori: senza \
         il link la casella resta com'è.\n\n\
         {provider}\n",
        url = mail.url,
        day = expires.giorno(),
        hour = &expires.ora()[..5],
        mailbox = mail.mailbox,
        host = servers.host,
        imaps = servers.imaps_port,
        imap = servers.imap_port,
        submissions = servers.submissions_port,
        submission = servers.submission_port,
        provider = settings.provider_name,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::tests::settings;

    fn composed(purpose: LinkPurpose) -> String {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let mail = LinkMail {
            to: "anna.bianchi@example.test",
            mailbox: "anna.bianchi@pec-a.test",
            purpose,
            url: "https://pannello.pec-a.test/attiva/0123456789abcdef0123456789abcdef",
            expires: now,
        };
        let bytes = link_mail(&settings(), &mail, "n1.x@pec-a.test", now);
        let message = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        assert_eq!(
            message
                .from()
                .and_then(|a| a.first())
                .and_then(|a| a.address()),
            Some("noreply@pec-a.test")
        );
        assert_eq!(message.message_id(), Some("n1.x@pec-a.test"));
        let subject = message.subject().unwrap_or_default().to_string();
        let body = message.body_text(0).unwrap_or_default().to_string();
        format!("{subject}\n{body}")
    }

    #[test]
    fn the_activation_mail_tells_the_mailbox_the_servers_and_the_link() {
        let text = composed(LinkPurpose::Activation);
        assert!(text.starts_with("Attivazione della casella PEC anna.bianchi@pec-a.test"));
        for expected in [
            "è attiva",
            "https://pannello.pec-a.test/attiva/0123456789abcdef0123456789abcdef",
            "nome utente: anna.bianchi@pec-a.test",
            "pec-a.test, porta 993 (SSL/TLS) oppure 143 (STARTTLS)",
            "pec-a.test, porta 465 (SSL/TLS) oppure 587 (STARTTLS)",
            // 1_800_000_000 is 15/01/2027 08:00 UTC, 09:00 in Rome.
            "fino al 15/01/2027 alle ore 09:00",
            "Gestore A S.p.A.",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
    }

    #[test]
    fn the_new_password_mail_says_the_old_password_still_works() {
        let text = composed(LinkPurpose::NewPassword);
        assert!(text.starts_with("Nuova password per la casella PEC anna.bianchi@pec-a.test"));
        assert!(text.contains("resta valida la password attuale"), "{text}");
    }
}
