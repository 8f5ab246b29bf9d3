//! Takes a received `multipart/signed` message apart (RFC 1847 §2.1, RFC 5751 §3.4.3):
//! the first part's exact bytes, which the signature covers, and the decoded
//! `smime.p7s`. pec.md §8 step 1 ("signature existence") and §11 item 2 (both protocol
//! spellings, any `micalg` form).

use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::GeneralPurpose;
use base64::engine::GeneralPurposeConfig;
use mail_parser::ContentType;
use mail_parser::MessagePart;
use mail_parser::MimeHeaders;

use super::SmimeError;
use crate::mail::message::Message;

/// The protocols a PEC signature is announced with (pec.md §11 item 2).
const PROTOCOLS: [&str; 2] = [
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
];

/// Base64 as found in the wild: padding optional, whitespace removed beforehand.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The two halves of a `multipart/signed` message.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct SignedParts {
    /// The signed entity: the first part from its first header byte up to, not
    /// including, the line break before the next delimiter. These are the exact bytes
    /// of the message when it uses CRLF, as on the wire; in a message stored with bare
    /// LF line ends (Unix mailbox files) each bare LF becomes CRLF, the canonical form
    /// that was signed (RFC 5751 §3.1.1), as OpenSSL's S/MIME reader does too.
    pub entity: Vec<u8>,
    /// The detached CMS/PKCS#7 signature, DER (base64 already decoded).
    pub signature: Vec<u8>,
    /// The `protocol` parameter as written.
    pub protocol: String,
    /// The `micalg` parameter as written, if any (`sha1`, `sha-256`, …).
    pub micalg: Option<String>,
}

/// Finds the top-level `multipart/signed` of `message` and returns its signed entity
/// and decoded signature. Errors when the message is not `multipart/signed`, announces
/// another protocol, does not hold exactly two parts, or the signature is not base64.
pub fn split_signed(message: &[u8]) -> Result<SignedParts, SmimeError> {
    // Through pecd's one message parser, which bounds nesting before mail-parser
    // recurses into it.
    let parsed = Message::parse(message).map_err(|_| SmimeError::NotMime)?;
    split_parsed(parsed.parsed())
}

/// [`split_signed`] of a message already parsed (with mail-parser's default
/// settings), so a reader that parsed it for its headers need not parse it again.
pub fn split_parsed(parsed: &mail_parser::Message<'_>) -> Result<SignedParts, SmimeError> {
    let root = parsed.parts.first().ok_or(SmimeError::NotMime)?;
    let content_type = multipart_signed(root)?;
    let parameter = |wanted: &str| parameter(content_type, wanted);
    let protocol = parameter("protocol").unwrap_or_default();
    if !PROTOCOLS
        .iter()
        .any(|known| known.eq_ignore_ascii_case(&protocol))
    {
        return Err(SmimeError::WrongProtocol { protocol });
    }
    let micalg = parameter("micalg");

    let children = root.sub_parts().unwrap_or_default();
    let [entity_id, signature_id] = children else {
        return Err(SmimeError::PartCount {
            found: children.len(),
        });
    };
    let raw = parsed.raw_message();
    let part = |id: u32| {
        usize::try_from(id)
            .ok()
            .and_then(|index| parsed.parts.get(index))
            .ok_or(SmimeError::PartCount {
                found: children.len(),
            })
    };
    let entity_part = part(*entity_id)?;
    let signature_part = part(*signature_id)?;
    let boundary = parameter("boundary").unwrap_or_default();
    delimiters_agree(
        raw,
        Delimiters::find(raw, root.offset_body, boundary.as_bytes())?,
        [entity_part, signature_part],
    )?;
    let entity = canonical_line_ends(slice(
        raw,
        entity_part.offset_header,
        entity_part.offset_end,
    )?);
    let signature = decode_signature(raw, signature_part)?;
    Ok(SignedParts {
        entity,
        signature,
        protocol,
        micalg,
    })
}

/// The root part's content type, when it is `multipart/signed` (RFC 1847 §2.1).
fn multipart_signed<'p>(root: &'p MessagePart<'_>) -> Result<&'p ContentType<'p>, SmimeError> {
    let content_type = root.content_type().ok_or_else(|| SmimeError::NotSigned {
        content_type: String::from("text/plain"),
    })?;
    let subtype = content_type.subtype().unwrap_or_default();
    if !content_type.ctype().eq_ignore_ascii_case("multipart")
        || !subtype.eq_ignore_ascii_case("signed")
    {
        return Err(SmimeError::NotSigned {
            content_type: format!("{}/{subtype}", content_type.ctype()),
        });
    }
    Ok(content_type)
}

/// A content type's parameter `wanted` (its name in any case), trimmed.
fn parameter(content_type: &ContentType<'_>, wanted: &str) -> Option<String> {
    content_type
        .attributes()
        .unwrap_or_default()
        .iter()
        .find(|attribute| attribute.name.eq_ignore_ascii_case(wanted))
        .map(|attribute| attribute.value.trim().to_owned())
}

/// Where the lines of a `multipart/signed` body that start with `--boundary` are, read
/// by pecd itself (RFC 2046 §5.1.1): the two delimiters opening the parts and the
/// close delimiter. Offsets are of each line's first byte.
struct Delimiters {
    entity: usize,
    signature: usize,
    close: usize,
}

impl Delimiters {
    /// The delimiter lines after `body`, up to the first close delimiter; exactly two
    /// delimiters and a close delimiter, or an error.
    fn find(raw: &[u8], body: u32, boundary: &[u8]) -> Result<Delimiters, SmimeError> {
        let body = usize::try_from(body).map_err(|_| SmimeError::NotMime)?;
        let dashes = [b"--".as_slice(), boundary].concat();
        let mut found = Vec::new();
        let starts = std::iter::once(body).chain(
            memchr::memchr_iter(b'\n', raw.get(body..).unwrap_or_default()).map(|at| body + at + 1),
        );
        for start in starts {
            let Some(rest) = raw
                .get(start..)
                .and_then(|line| line.strip_prefix(dashes.as_slice()))
            else {
                continue;
            };
            found.push(start);
            if rest.starts_with(b"--") {
                break;
            }
            if found.len() > 2 {
                return Err(SmimeError::Delimiters("more than two parts"));
            }
        }
        match found[..] {
            [entity, signature, close] => Ok(Delimiters {
                entity,
                signature,
                close,
            }),
            _ => Err(SmimeError::Delimiters(
                "not two parts and a close delimiter",
            )),
        }
    }
}

/// Whether the entity and signature parts start after the delimiter lines opening
/// them and end at the line break before the next one.
fn delimiters_agree(
    raw: &[u8],
    delimiters: Delimiters,
    [entity, signature]: [&MessagePart<'_>; 2],
) -> Result<(), SmimeError> {
    let line_after = |start: usize| {
        memchr::memchr(b'\n', raw.get(start..).unwrap_or_default()).map(|at| start + at + 1)
    };
    let break_before = |start: usize| match raw.get(..start) {
        Some(before) if before.ends_with(b"\r\n") => Some(start - 2),
        Some(before) if before.ends_with(b"\n") => Some(start - 1),
        _ => None,
    };
    let spans = [
        (entity, delimiters.entity, delimiters.signature),
        (signature, delimiters.signature, delimiters.close),
    ];
    for (part, opening, next) in spans {
        let starts = usize::try_from(part.offset_header).ok() == line_after(opening);
        let ends = usize::try_from(part.offset_end).ok() == break_before(next);
        if !(starts && ends) {
            return Err(SmimeError::Delimiters(
                "a part does not sit between its delimiters",
            ));
        }
    }
    Ok(())
}

/// The signature part's body: base64-decoded, or taken as is under an identity
/// transfer encoding.
fn decode_signature(raw: &[u8], part: &MessagePart<'_>) -> Result<Vec<u8>, SmimeError> {
    let body = slice(raw, part.offset_body, part.offset_end)?;
    let encoding = part
        .content_transfer_encoding()
        .unwrap_or("7bit")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "base64" => {
            let compact: Vec<u8> = body
                .iter()
                .copied()
                .filter(|byte| !byte.is_ascii_whitespace())
                .collect();
            LENIENT_BASE64
                .decode(compact)
                .map_err(SmimeError::BadBase64)
        }
        "7bit" | "8bit" | "binary" => Ok(body.to_vec()),
        _ => Err(SmimeError::UnsupportedEncoding { encoding }),
    }
}

/// `bytes` with every LF not preceded by CR turned into CRLF; CRLF input comes back
/// unchanged.
fn canonical_line_ends(bytes: &[u8]) -> Vec<u8> {
    let mut canonical = Vec::with_capacity(bytes.len() + bytes.len() / 64);
    for line in bytes.split_inclusive(|&byte| byte == b'\n') {
        match line.strip_suffix(b"\n") {
            Some(text) if !text.ends_with(b"\r") => {
                canonical.extend_from_slice(text);
                canonical.extend_from_slice(b"\r\n");
            }
            _ => canonical.extend_from_slice(line),
        }
    }
    canonical
}

fn slice(raw: &[u8], start: u32, end: u32) -> Result<&[u8], SmimeError> {
    let start = usize::try_from(start).map_err(|_| SmimeError::NotMime)?;
    let end = usize::try_from(end).map_err(|_| SmimeError::NotMime)?;
    raw.get(start..end).ok_or(SmimeError::NotMime)
}

#[cfg(test)]
mod tests {
    use super::super::sign;
    use super::super::testing::pki;
    use super::super::testing::unsigned;
    use super::*;

    fn signed() -> Vec<u8> {
        sign(&pki().signer, &unsigned()).unwrap()
    }

    fn with(message: &[u8], from: &str, to: &str) -> Vec<u8> {
        let text = String::from_utf8(message.to_vec()).unwrap();
        assert!(text.contains(from), "{from} not in message");
        text.replacen(from, to, 1).into_bytes()
    }

    #[test]
    fn plain_message_is_not_signed() {
        let error = split_signed(b"Subject: hi\r\n\r\nhello\r\n").unwrap_err();
        assert!(
            matches!(&error, SmimeError::NotSigned { content_type } if content_type == "text/plain"),
            "{error}"
        );
        let error = split_signed(&unsigned().entity).unwrap_err();
        assert!(matches!(error, SmimeError::NotSigned { .. }), "{error}");
    }

    #[test]
    fn other_protocols_are_refused() {
        let message = with(
            &signed(),
            "application/pkcs7-signature\";",
            "application/pgp-signature\";",
        );
        let error = split_signed(&message).unwrap_err();
        assert!(
            matches!(&error, SmimeError::WrongProtocol { protocol } if protocol == "application/pgp-signature"),
            "{error}"
        );
        let message = with(&signed(), "protocol=\"application/pkcs7-signature\";", "");
        let error = split_signed(&message).unwrap_err();
        assert!(matches!(error, SmimeError::WrongProtocol { .. }), "{error}");
    }

    #[test]
    fn missing_signature_part_is_refused() {
        let message = signed();
        let text = String::from_utf8(message).unwrap();
        let cut = text.rfind("\r\n--").unwrap();
        let (_, boundary) = text.split_once("boundary=\"").unwrap();
        let boundary = &boundary[..boundary.find('"').unwrap()];
        let second = text[..cut].rfind(&format!("\r\n--{boundary}\r\n")).unwrap();
        let one_part = format!("{}\r\n--{boundary}--\r\n", &text[..second]);
        let error = split_signed(one_part.as_bytes()).unwrap_err();
        assert!(
            matches!(error, SmimeError::PartCount { found: 1 }),
            "{error}"
        );
    }

    #[test]
    fn bad_base64_is_refused() {
        let message = with(
            &signed(),
            "filename=\"smime.p7s\"\r\n\r\n",
            "filename=\"smime.p7s\"\r\n\r\n!!not*base64!!\r\n",
        );
        let error = split_signed(&message).unwrap_err();
        assert!(matches!(error, SmimeError::BadBase64(_)), "{error}");
    }

    /// A `message/rfc822` part whose body is itself only a `message/rfc822`, closed by
    /// the close delimiter: mail-parser 0.11.9 ends its parse there and loses the
    /// signature part (docs/fuzzing.md). `after` goes between the attached message and
    /// the close delimiter.
    fn nested_message_entity(inner: &str, after: &str) -> Vec<u8> {
        [
            "Content-Type: multipart/mixed; boundary=\"A\"",
            "",
            "--A",
            "Content-Type: text/plain",
            "",
            "testo",
            "--A",
            "Content-Type: message/rfc822",
            "",
            inner,
            "Subject: allegato",
            "",
            "allegato",
            after,
            "--A--",
            "",
        ]
        .join("\r\n")
        .into_bytes()
    }

    #[test]
    fn a_parse_cut_short_inside_the_signed_entity_is_never_valid_pec() {
        use crate::crypto::smime::Anchors;
        use crate::crypto::validation::Validation;

        let anchors = Anchors::from_certificates(vec![pki().ca.certificate.clone()]).unwrap();
        let check = |entity: Vec<u8>| {
            let mut input = unsigned();
            input.entity = entity;
            let message = sign(&pki().signer, &input).unwrap();
            let now = jiff::Timestamp::now();
            let validation = Validation::check(&message, Some(&anchors), None, now).unwrap();
            (split_signed(&message), validation)
        };
        let cut_short = |validation: &Validation| {
            validation
                .message
                .problems
                .iter()
                .any(|problem| problem.contains("parse cut short"))
        };

        let whole = nested_message_entity("Content-Type: text/plain\r\n", "");
        let (split, validation) = check(whole);
        assert!(split.is_ok(), "{split:?}");
        assert!(
            validation
                .signature
                .as_ref()
                .is_some_and(|report| report.valid)
        );
        assert!(!cut_short(&validation));

        let nested = nested_message_entity("Content-Type: message/rfc822\r\n", "");
        let (split, validation) = check(nested);
        assert!(
            matches!(
                split,
                Err(SmimeError::PartCount { found: 1 } | SmimeError::Delimiters(_))
            ),
            "{split:?}"
        );
        assert!(validation.signature.is_none());
        assert!(cut_short(&validation), "{:?}", validation.message.problems);
        assert!(!validation.is_valid_pec());

        let misfiled = nested_message_entity(
            "Content-Type: message/rfc822\r\n",
            "--A\r\nContent-Type: text/plain\r\n\r\ndopo",
        );
        let (split, validation) = check(misfiled);
        assert!(split.is_ok(), "{split:?}");
        assert!(cut_short(&validation), "{:?}", validation.message.problems);
        assert!(!validation.is_valid_pec());
    }

    #[test]
    fn delimiters_out_of_place_are_refused() {
        let message = signed();
        let text = String::from_utf8(message).unwrap();
        let (_, boundary) = text.split_once("boundary=\"").unwrap();
        let boundary = &boundary[..boundary.find('"').unwrap()];
        let first = format!("\r\n--{boundary}\r\n");
        let shifted = text.replacen(&first, &format!("\r\nx--{boundary}\r\n"), 1);
        let error = split_signed(shifted.as_bytes()).unwrap_err();
        assert!(matches!(error, SmimeError::Delimiters(_)), "{error}");
    }

    #[test]
    fn garbage_never_panics() {
        for input in [
            &b""[..],
            b"\r\n\r\n",
            b"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"\r\n\r\n",
            b"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=x\r\n\r\n--x\r\n\r\n--x--",
            b"\xff\xfe\x00garbage",
        ] {
            assert!(split_signed(input).is_err(), "{input:?}");
        }
    }

    #[test]
    fn unix_line_ends_are_canonicalized_to_what_was_signed() {
        let crlf = signed();
        let lf = String::from_utf8(crlf.clone())
            .unwrap()
            .replace("\r\n", "\n");
        let parts = split_signed(lf.as_bytes()).unwrap();
        assert_eq!(parts.entity, unsigned().entity);
        assert_eq!(parts.signature, split_signed(&crlf).unwrap().signature);
        assert_eq!(canonical_line_ends(b"a\r\nb\nc"), b"a\r\nb\r\nc");
    }
}
