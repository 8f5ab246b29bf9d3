//! The human-readable part of provider messages (RFC 6109 §4.3): Italian text in
//! ISO-8859-1 `text/plain`, and the same information as static HTML (no external or
//! internal references, no active content). Machines read `daticert.xml`, never this.

use crate::pec::daticert::Recipient;
use crate::pec::time::LocalTime;

/// A notice to render: a title line and paragraphs. A paragraph is a list of lines.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Notice {
    /// The first line, e.g. `Ricevuta di accettazione`.
    pub title: String,
    /// The paragraphs, in order; each is one or more lines.
    pub paragraphs: Vec<Vec<String>>,
}

impl Notice {
    /// Starts a notice with its title.
    pub fn new(title: &str) -> Notice {
        Notice {
            title: title.to_string(),
            paragraphs: Vec::new(),
        }
    }

    /// Adds a paragraph of lines.
    pub fn paragraph<I, S>(mut self, lines: I) -> Notice
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.paragraphs
            .push(lines.into_iter().map(Into::into).collect());
        self
    }

    /// Adds a one-line paragraph.
    pub fn line(self, line: impl Into<String>) -> Notice {
        self.paragraph([line.into()])
    }

    /// The plain text, CRLF line ends, encoded in ISO-8859-1 (characters outside
    /// Latin-1 become `?`, as the rules fix the charset).
    pub fn plain_latin1(&self) -> Vec<u8> {
        let mut text = String::new();
        text.push_str(&self.title);
        text.push_str("\r\n");
        for paragraph in &self.paragraphs {
            text.push_str("\r\n");
            for line in paragraph {
                text.push_str(line);
                text.push_str("\r\n");
            }
        }
        latin1(&text)
    }

    /// The static HTML copy, encoded in ISO-8859-1 (non-Latin-1 characters become
    /// numeric character references, so nothing is lost).
    pub fn html_latin1(&self) -> Vec<u8> {
        let mut html = String::from(
            "<!DOCTYPE html>\r\n<html lang=\"it\">\r\n<head>\r\n<meta http-equiv=\"Content-Type\" \
             content=\"text/html; charset=iso-8859-1\">\r\n",
        );
        html.push_str(&format!(
            "<title>{}</title>\r\n</head>\r\n<body>\r\n",
            escape(&self.title)
        ));
        html.push_str(&format!("<h3>{}</h3>\r\n", escape(&self.title)));
        for paragraph in &self.paragraphs {
            let lines: Vec<String> = paragraph.iter().map(|line| escape(line)).collect();
            html.push_str(&format!("<p>{}</p>\r\n", lines.join("<br>\r\n")));
        }
        html.push_str("</body>\r\n</html>\r\n");
        html.chars()
            .flat_map(|c| match u8::try_from(u32::from(c)) {
                Ok(byte) => vec![byte],
                Err(_) => format!("&#{};", u32::from(c)).into_bytes(),
            })
            .collect()
    }
}

/// `Il giorno 14/11/2014 alle ore 18:26:32 (+0100)`.
pub fn on(time: &LocalTime) -> String {
    format!("Il giorno {time}")
}

/// One recipient line: `bob@pec-b.test ("posta certificata")`.
pub fn recipient_line(recipient: &Recipient) -> String {
    format!("{} (\"{}\")", recipient.address, recipient.kind.label())
}

/// `Identificativo messaggio: <id>`.
pub fn identifier(id: &str) -> String {
    format!("Identificativo messaggio: {id}")
}

/// Quotes a subject the way the texts show it.
pub fn quoted(value: &str) -> String {
    format!("\"{value}\"")
}

fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_latin1_plain_and_escaped_html() {
        let notice = Notice::new("Ricevuta").line("è stato <accettato> € 5");
        assert_eq!(
            notice.plain_latin1(),
            b"Ricevuta\r\n\r\n\xe8 stato <accettato> ? 5\r\n"
        );
        let html = String::from_utf8_lossy(&notice.html_latin1()).into_owned();
        assert!(html.contains("&lt;accettato&gt; &#8364; 5"), "{html}");
        assert!(!html.contains("src=") && !html.contains("<script"));
    }
}
