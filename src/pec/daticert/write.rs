//! Writing `daticert.xml` in the serialization real providers use (observed
//! identically at Aruba and Namirial): UTF-8 declaration, `\n` line ends, four-space
//! indentation, `errore` always written, `<ricevuta tipo="…" />` with a space before
//! `/>`, text escaped so a bracketed msgid reads `&lt;…&gt;`.
//!
//! Hand-written rather than through quick-xml's writer: the exact bytes matter (they
//! are compared with real providers' output) and quick-xml cannot produce the ` />`
//! form of empty elements.

use super::Daticert;

impl Daticert {
    /// Serializes the document.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(1024);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str(&format!(
            "<postacert tipo=\"{}\" errore=\"{}\">\n",
            self.kind.as_str(),
            self.error.as_str()
        ));
        out.push_str("    <intestazione>\n");
        element(&mut out, 2, "mittente", &self.header.sender);
        for recipient in &self.header.recipients {
            out.push_str(&format!(
                "        <destinatari tipo=\"{}\">{}</destinatari>\n",
                recipient.kind.as_str(),
                escape(&recipient.address)
            ));
        }
        element(&mut out, 2, "risposte", &self.header.reply_to);
        if let Some(subject) = &self.header.subject {
            element(&mut out, 2, "oggetto", subject);
        }
        out.push_str("    </intestazione>\n    <dati>\n");
        let data = &self.data;
        element(&mut out, 2, "gestore-emittente", &data.issuer);
        out.push_str(&format!("        <data zona=\"{}\">\n", data.time.zona()));
        element(&mut out, 3, "giorno", &data.time.giorno());
        element(&mut out, 3, "ora", &data.time.ora());
        out.push_str("        </data>\n");
        element(&mut out, 2, "identificativo", &data.id);
        if let Some(msgid) = &data.msgid {
            element(&mut out, 2, "msgid", msgid);
        }
        if let Some(receipt_type) = data.receipt_type {
            out.push_str(&format!(
                "        <ricevuta tipo=\"{}\" />\n",
                receipt_type.as_str()
            ));
        }
        if let Some(delivery) = &data.delivery {
            element(&mut out, 2, "consegna", delivery);
        }
        for reception in &data.receptions {
            element(&mut out, 2, "ricezione", reception);
        }
        if let Some(extended) = &data.extended_error {
            element(&mut out, 2, "errore-esteso", extended);
        }
        out.push_str("    </dati>\n</postacert>\n");
        out
    }
}

fn element(out: &mut String, depth: usize, name: &str, text: &str) {
    for _ in 0..depth {
        out.push_str("    ");
    }
    out.push_str(&format!("<{name}>{}</{name}>\n", escape(text)));
}

/// Escapes character data; control characters XML 1.0 cannot carry become spaces.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // A reader turns a literal CR into a line feed; only a reference keeps it.
            '\r' => out.push_str("&#13;"),
            c if super::is_xml_char(c) => out.push(c),
            _ => out.push(' '),
        }
    }
    out
}
