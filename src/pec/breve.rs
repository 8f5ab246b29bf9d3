//! The original message as a ricevuta breve carries it (RFC 6109 §3.3.2.2):
//! every MIME part with a file name (`Content-Type name=` or `Content-Disposition
//! filename=`), `message/rfc822` attachments included, is replaced by a `text/plain`
//! part named `<name>.hash` holding the SHA-1 hex digest of the part.
//!
//! The rules say both "calculated on base64-encoded parts" and "on the entire content
//! of the part"; pecd hashes the part body exactly as transmitted (encoded), which is
//! what the sender keeps in its copy and can recompute without decoding ambiguity.
//! An `application/pkcs7-mime` original stays intact (breve equals completa); a
//! `multipart/signed` original keeps its structure, its signature no longer verifying.

use mail_builder::headers::content_type::ContentType;
use mail_builder::mime::BodyPart;
use mail_builder::mime::MimePart;
use mail_parser::MimeHeaders;

use crate::mail::message::Message;

/// The original with its attachments replaced by their hashes. Input that cannot be
/// parsed is returned unchanged: breve never loses the message.
pub fn hash_attachments(original: &[u8]) -> Vec<u8> {
    let Ok(message) = Message::parse(original) else {
        return original.to_vec();
    };
    let parsed = message.parsed();
    let is_opaque = parsed.root_part().content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("application")
            && ct.subtype().is_some_and(|s| {
                s.eq_ignore_ascii_case("pkcs7-mime") || s.eq_ignore_ascii_case("x-pkcs7-mime")
            })
    });
    if is_opaque {
        return original.to_vec();
    }
    let mut replacements: Vec<(usize, usize, Vec<u8>)> = Vec::new();
    for part in parsed.parts.iter().skip(1) {
        if part.is_multipart() {
            continue;
        }
        let Some(name) = part.attachment_name() else {
            continue;
        };
        let (start, body, end) = (
            part.offset_header as usize,
            part.offset_body as usize,
            part.offset_end as usize,
        );
        let Some(encoded) = original.get(body..end) else {
            continue;
        };
        if start > body
            || replacements
                .last()
                .is_some_and(|(_, last_end, _)| *last_end > start)
        {
            continue;
        }
        replacements.push((start, end, hash_part(name, encoded)));
    }
    let mut out = Vec::with_capacity(original.len());
    let mut at = 0;
    for (start, end, replacement) in replacements {
        out.extend_from_slice(original.get(at..start).unwrap_or_default());
        out.extend_from_slice(&replacement);
        at = end;
    }
    out.extend_from_slice(original.get(at..).unwrap_or_default());
    out
}

/// SHA-1 of the bytes, 40 lowercase hex characters.
pub fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(openssl::sha::sha1(bytes))
}

fn hash_part(name: &str, encoded: &[u8]) -> Vec<u8> {
    let file = format!("{name}.hash");
    let part = MimePart::new(
        ContentType::new("text/plain")
            .attribute("charset", "us-ascii")
            .attribute("name", file.clone()),
        BodyPart::Text(sha1_hex(encoded).into()),
    )
    .attachment(file);
    let mut out = Vec::new();
    part.write_part(&mut out);
    while out.ends_with(b"\r\n") {
        out.truncate(out.len() - 2);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &[u8] = b"From: a@pec-a.test\r\nTo: b@pec-b.test\r\nSubject: x\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\n\
Content-Type: text/plain\r\n\r\nCiao\r\n--XX\r\nContent-Type: application/pdf; name=\"atto.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"atto.pdf\"\r\n\r\n\
JVBERi0xLjQK\r\n--XX--\r\n";

    #[test]
    fn replaces_named_parts_with_their_sha1() {
        let out = hash_attachments(ORIGINAL);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Ciao"), "{text}");
        assert!(!text.contains("JVBERi0xLjQK"), "{text}");
        assert!(text.contains("atto.pdf.hash"), "{text}");
        assert!(text.contains(&sha1_hex(b"JVBERi0xLjQK")), "{text}");
        let parsed = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(parsed.parsed().attachments().count(), 1);
    }

    #[test]
    fn keeps_opaque_and_unparsable_originals() {
        let opaque = b"Content-Type: application/pkcs7-mime; name=smime.p7m\r\n\r\nMIAGCSqG\r\n";
        assert_eq!(hash_attachments(opaque), opaque);
        assert_eq!(hash_attachments(b"\x00\x01"), b"\x00\x01");
    }
}
