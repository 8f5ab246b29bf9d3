use base64::Engine as _;

use super::*;

#[test]
fn reads_headers_case_insensitively() {
    let raw = b"From: A <a@x.it>\r\nX-Tiporicevuta: breve\r\nTo: b@y.it,\r\n c@z.it\r\nSubject: =?utf-8?q?Caff=C3=A8?=\r\n\r\nbody\r\n";
    let message = Message::parse(raw).unwrap();
    assert_eq!(message.text("X-TipoRicevuta").as_deref(), Some("breve"));
    assert_eq!(message.addresses("to"), ["b@y.it", "c@z.it"]);
    assert_eq!(message.subject().as_deref(), Some("Caffè"));
    assert_eq!(message.raw_values("TO"), ["b@y.it,\r\n c@z.it"]);
}

#[test]
fn bytes_without_a_header_field_are_not_a_message() {
    assert_eq!(
        Message::parse(b"\x00\x01 not a message").err(),
        Some(MessageError::NotAMessage)
    );
    assert_eq!(Message::parse(b"").err(), Some(MessageError::NotAMessage));
    assert_eq!(
        Message::parse(b"no colon here\r\n\r\n").err(),
        Some(MessageError::NotAMessage)
    );
}

/// `depth` messages nested in each other, each the whole body of its parent.
fn nested(depth: usize) -> Vec<u8> {
    let mut raw = "Subject: su\r\nContent-Type: message/rfc822\r\n\r\n".repeat(depth);
    raw.push_str("Subject: fondo\r\n\r\nfondo\r\n");
    raw.into_bytes()
}

#[test]
fn nesting_is_read_up_to_the_limit_and_refused_beyond() {
    let plain = b"Subject: x\r\nMessage-ID: <a@b>\r\n\r\nmessage / digest\r\n";
    assert_eq!(nesting_depth_of(plain), Ok(0));
    for depth in [1, MAX_NESTING_DEPTH] {
        assert_eq!(nesting_depth_of(&nested(depth)), Ok(depth));
        assert_eq!(
            Message::parse(&nested(depth)).unwrap().nesting_depth(),
            depth
        );
    }
    let deeper = MAX_NESTING_DEPTH + 1;
    assert_eq!(
        Message::parse(&nested(deeper)).err(),
        Some(MessageError::TooDeep(deeper))
    );
    let digest = b"Subject: d\r\nContent-Type: Multipart/Digest; boundary=x\r\n\r\n--x\r\n\r\nSubject: in\r\n\r\ndentro\r\n--x--\r\n";
    assert_eq!(nesting_depth_of(digest), Ok(1));
    let comment = b"Subject: c\r\nContent-Type: MESSAGE (commento) /rfc822\r\n\r\nSubject: in\r\n\r\ndentro\r\n";
    assert_eq!(attached_message_types(comment).len(), 1);
}

#[test]
fn a_nesting_bomb_is_refused_before_it_is_parsed() {
    // Parsed, this would nest 50 000 messages and overflow the stack when freed.
    let bomb = nested(50_000);
    assert_eq!(
        Message::parse(&bomb).err(),
        Some(MessageError::TooManyMessageTypes(50_000))
    );
    assert_eq!(
        nesting_depth_of(&bomb),
        Err(MessageError::TooManyMessageTypes(50_000))
    );
}

#[test]
fn an_encoded_attached_message_is_refused_before_it_is_parsed() {
    // Parsed, the base64 part would be decoded into 50 000 nested messages.
    let inner = nested(50_000);
    let mut encoded = base64::engine::general_purpose::STANDARD.encode(&inner);
    encoded.push_str("\r\n");
    for (content_type, encoding) in [
        ("message/rfc822", "base64"),
        ("Message/RFC822", "Quoted-Printable"),
    ] {
        let outer = format!(
            "From: a@b.test\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n\
             Content-Type: {content_type}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n\
             {encoded}--z--\r\n"
        );
        assert_eq!(
            Message::parse(outer.as_bytes()).err(),
            Some(MessageError::EncodedMessage)
        );
    }
    let digest = format!(
        "From: a@b.test\r\nContent-Type: multipart/digest; boundary=z\r\n\r\n--z\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{encoded}--z--\r\n"
    );
    assert_eq!(
        Message::parse(digest.as_bytes()).err(),
        Some(MessageError::EncodedMessage)
    );
    // An encoded attachment beside a 7bit attached message is fine.
    let fine = "From: a@b.test\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n\
                Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nx\r\n--z\r\n\
                Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n\
                JVBERi0=\r\n--z--\r\n";
    assert!(Message::parse(fine.as_bytes()).is_ok());
}

#[test]
fn words_outside_content_type_fields_refuse_nothing() {
    let quoted = "From: a@b.test\r\nSubject: Your message (ref 12)\r\n\
                  Content-Transfer-Encoding: quoted-printable\r\n\r\ntesto=20\r\n";
    let named = "From: a@b.test\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n\
                 Content-Type: application/pdf; name=\"message (1).pdf\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--z--\r\n";
    let link = "From: a@b.test\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n\
                Content-Type: text/plain\r\n\r\nhttps://x.it/digest\r\n--z\r\n\
                Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n\
                JVBERi0=\r\n--z--\r\n";
    let signed_xml = format!(
        "From: a@b.test\r\nContent-Type: text/xml\r\n\r\n{}",
        "<ds:DigestValue>x</ds:DigestValue> message/rfc822\r\n".repeat(1100)
    );
    for raw in [quoted, named, link, &signed_xml] {
        assert!(Message::parse(raw.as_bytes()).is_ok(), "{raw:.80}");
        assert!(attached_message_types(raw.as_bytes()).is_empty());
    }
    let folded = b"From: a@b.test\r\nContent-Type:\r\n message (attached)\r\n /rfc822\r\n\r\nSubject: in\r\n\r\nx\r\n";
    assert_eq!(attached_message_types(folded).len(), 1);
}

#[test]
fn canonicalizes_line_ends() {
    assert_eq!(&*to_crlf(b"a\nb\r\nc\rd"), b"a\r\nb\r\nc\r\nd");
    assert!(matches!(to_crlf(b"a\r\nb"), Cow::Borrowed(_)));
}

#[test]
fn rewrites_header_section_keeping_body() {
    let raw =
        b"Message-ID: <a@b>\r\nSubject: x\r\nReceived: one\r\n two\r\n\r\nMessage-ID: body\r\n";
    let out = rewrite_headers(
        raw,
        &["message-id", "received"],
        &[("Message-ID".into(), "<n@p>".into())],
    );
    assert_eq!(
        out,
        b"Message-ID: <n@p>\r\nSubject: x\r\n\r\nMessage-ID: body\r\n"
    );
}
