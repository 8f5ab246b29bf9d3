//! SMTP replies: a code, an optional enhanced status code and client-safe text.
//!
//! RFC 5321 §4.2 defines the reply shape (`250-first line`, …, `250 last line`);
//! RFC 2034/3463 the enhanced status codes, which pecd advertises
//! (`ENHANCEDSTATUSCODES`) and therefore puts on every 2xx, 4xx and 5xx reply except
//! the greeting and the EHLO response. Reply texts are deliberately generic: what went
//! wrong in detail goes to the log, never to the peer.

use std::borrow::Cow;
use std::fmt;

/// One SMTP reply, possibly multi-line (lines are separated by `\n` in the text).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Reply {
    code: u16,
    enhanced: Option<(u8, u16, u16)>,
    text: Cow<'static, str>,
}

impl Reply {
    /// `250 2.0.0 OK`.
    pub const OK: Reply = Reply::fixed(250, Some((2, 0, 0)), "OK");
    /// `221 2.0.0 Bye`, the answer to QUIT.
    pub const BYE: Reply = Reply::fixed(221, Some((2, 0, 0)), "Bye");
    /// `354`: go ahead with the message body (RFC 5321 §4.3.2).
    pub const START_DATA: Reply = Reply::fixed(354, None, "End data with <CR><LF>.<CR><LF>");
    /// `220 2.0.0`: the answer to STARTTLS just before the handshake (RFC 3207 §4).
    pub const READY_FOR_TLS: Reply = Reply::fixed(220, Some((2, 0, 0)), "Ready to start TLS");
    /// `235 2.7.0`: AUTH succeeded (RFC 4954 §6).
    pub const AUTH_SUCCEEDED: Reply =
        Reply::fixed(235, Some((2, 7, 0)), "Authentication successful");
    /// `252 2.5.0`: VRFY is never answered truthfully (RFC 5321 §3.5.3).
    pub const CANNOT_VRFY: Reply = Reply::fixed(
        252,
        Some((2, 5, 0)),
        "Cannot VRFY user, but will accept message and attempt delivery",
    );
    /// `214 2.0.0`: the HELP text.
    pub const HELP: Reply = Reply::fixed(
        214,
        Some((2, 0, 0)),
        "Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA RSET NOOP QUIT VRFY HELP",
    );
    /// `421 4.3.2`: the server is stopping; sent at the next command boundary.
    pub const SHUTTING_DOWN: Reply = Reply::fixed(421, Some((4, 3, 2)), "Service shutting down");
    /// `421 4.7.0`: the connection cap is reached.
    pub const TOO_MANY_CONNECTIONS: Reply =
        Reply::fixed(421, Some((4, 7, 0)), "Too many connections");
    /// `421 4.4.2`: the client was silent for too long (RFC 5321 §4.5.3.2).
    pub const TIMEOUT: Reply = Reply::fixed(421, Some((4, 4, 2)), "Timeout, closing connection");
    /// `421 4.7.0`: too many failed or throttled authentication attempts.
    pub const TOO_MANY_AUTH_FAILURES: Reply = Reply::fixed(
        421,
        Some((4, 7, 0)),
        "Too many authentication failures, try again later",
    );
    /// `421 4.7.0`: too many bad commands in a row.
    pub const TOO_MANY_ERRORS: Reply =
        Reply::fixed(421, Some((4, 7, 0)), "Too many errors, closing connection");
    /// `451 4.3.0`: something failed on our side; the client should retry.
    pub const LOCAL_ERROR: Reply = Reply::fixed(
        451,
        Some((4, 3, 0)),
        "Local error in processing, try again later",
    );
    /// `452 4.5.3`: the recipient limit of one transaction is reached.
    pub const TOO_MANY_RECIPIENTS: Reply =
        Reply::fixed(452, Some((4, 5, 3)), "Too many recipients");
    /// `454 4.7.0`: STARTTLS is not available on this listener.
    pub const TLS_UNAVAILABLE: Reply = Reply::fixed(454, Some((4, 7, 0)), "TLS not available");
    /// `500 5.5.2`: a command line longer than RFC 5321 §4.5.3.1.4 allows.
    pub const LINE_TOO_LONG: Reply = Reply::fixed(500, Some((5, 5, 2)), "Line too long");
    /// `500 5.5.2`: NUL, control or non-ASCII bytes in a command line.
    pub const INVALID_CHARACTERS: Reply =
        Reply::fixed(500, Some((5, 5, 2)), "Invalid characters in command");
    /// `500 5.5.1`: an unknown command.
    pub const UNKNOWN_COMMAND: Reply = Reply::fixed(500, Some((5, 5, 1)), "Command unrecognized");
    /// `501 5.5.4`: a known command with bad arguments.
    pub const SYNTAX_ERROR: Reply = Reply::fixed(
        501,
        Some((5, 5, 4)),
        "Syntax error in parameters or arguments",
    );
    /// `501 5.1.7`: a reverse-path that is not an address.
    pub const BAD_SENDER: Reply = Reply::fixed(501, Some((5, 1, 7)), "Bad sender address syntax");
    /// `501 5.1.3`: a forward-path that is not an address.
    pub const BAD_RECIPIENT: Reply =
        Reply::fixed(501, Some((5, 1, 3)), "Bad recipient address syntax");
    /// `501 5.5.2`: an AUTH response that is not valid base64 or SASL.
    pub const BAD_AUTH_RESPONSE: Reply =
        Reply::fixed(501, Some((5, 5, 2)), "Invalid authentication response");
    /// `501 5.7.0`: the client cancelled AUTH with `*` (RFC 4954 §4).
    pub const AUTH_CANCELLED: Reply =
        Reply::fixed(501, Some((5, 7, 0)), "Authentication cancelled");
    /// `502 5.5.1`: a known command pecd does not implement.
    pub const NOT_IMPLEMENTED: Reply =
        Reply::fixed(502, Some((5, 5, 1)), "Command not implemented");
    /// `503 5.5.1`: a command out of sequence.
    pub const BAD_SEQUENCE: Reply = Reply::fixed(503, Some((5, 5, 1)), "Bad sequence of commands");
    /// `504 5.5.4`: an AUTH mechanism other than PLAIN and LOGIN.
    pub const UNKNOWN_MECHANISM: Reply =
        Reply::fixed(504, Some((5, 5, 4)), "Unrecognized authentication type");
    /// `530 5.7.0`: submission requires AUTH before MAIL (RFC 6409 §4.3, RFC 4954 §6).
    pub const AUTH_REQUIRED: Reply = Reply::fixed(530, Some((5, 7, 0)), "Authentication required");
    /// `535 5.7.8`: wrong user or password (one answer for both).
    pub const AUTH_FAILED: Reply =
        Reply::fixed(535, Some((5, 7, 8)), "Authentication credentials invalid");
    /// `538 5.7.11`: AUTH attempted before TLS (RFC 4954 §6).
    pub const ENCRYPTION_REQUIRED: Reply = Reply::fixed(
        538,
        Some((5, 7, 11)),
        "Encryption required for requested authentication mechanism",
    );
    /// `552 5.3.4`: the message is larger than the advertised SIZE (RFC 1870).
    pub const MESSAGE_TOO_LARGE: Reply = Reply::fixed(
        552,
        Some((5, 3, 4)),
        "Message size exceeds fixed maximum message size",
    );
    /// `554 5.5.1`: DATA without any accepted recipient (RFC 2920 §3.1).
    pub const NO_VALID_RECIPIENTS: Reply =
        Reply::fixed(554, Some((5, 5, 1)), "No valid recipients");
    /// `555 5.5.4`: a MAIL or RCPT parameter that was not advertised.
    pub const UNSUPPORTED_PARAMETER: Reply = Reply::fixed(
        555,
        Some((5, 5, 4)),
        "Parameter not recognized or not implemented",
    );

    /// A reply with an enhanced status code. Control characters in `text` become
    /// spaces, except `\n`, which starts a new line of a multi-line reply.
    pub fn new(code: u16, enhanced: (u8, u16, u16), text: impl Into<String>) -> Reply {
        Reply::build(code, Some(enhanced), text.into())
    }

    /// A reply without an enhanced status code (greeting, EHLO, `334` challenges).
    pub fn plain(code: u16, text: impl Into<String>) -> Reply {
        Reply::build(code, None, text.into())
    }

    const fn fixed(code: u16, enhanced: Option<(u8, u16, u16)>, text: &'static str) -> Reply {
        Reply {
            code,
            enhanced,
            text: Cow::Borrowed(text),
        }
    }

    fn build(code: u16, enhanced: Option<(u8, u16, u16)>, text: String) -> Reply {
        let clean = text
            .chars()
            .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
            .collect();
        Reply {
            // Anything outside 200..=599 would break the client's parser.
            code: code.clamp(200, 599),
            enhanced,
            text: Cow::Owned(clean),
        }
    }

    /// The three-digit reply code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The enhanced status code (RFC 3463), when there is one.
    pub fn enhanced(&self) -> Option<(u8, u16, u16)> {
        self.enhanced
    }

    /// The text, lines separated by `\n`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// 2xx or 3xx: the command succeeded or may continue.
    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    /// 4xx: a temporary failure; the client should try again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5xx: a permanent failure.
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }

    /// The reply as sent on the wire, every line ending in CRLF.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len() + 16);
        self.write_to(&mut out);
        out
    }

    /// Appends the wire form to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut lines = self.text.split('\n').peekable();
        while let Some(line) = lines.next() {
            let separator = if lines.peek().is_some() { '-' } else { ' ' };
            out.extend_from_slice(format!("{}{separator}", self.code).as_bytes());
            if let Some((class, subject, detail)) = self.enhanced {
                out.extend_from_slice(format!("{class}.{subject}.{detail} ").as_bytes());
            }
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some((class, subject, detail)) = self.enhanced {
            write!(f, " {class}.{subject}.{detail}")?;
        }
        write!(f, " {}", self.text.replace('\n', " / "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_line_with_enhanced_code() {
        assert_eq!(Reply::OK.to_bytes(), b"250 2.0.0 OK\r\n");
        assert_eq!(
            Reply::ENCRYPTION_REQUIRED.to_bytes(),
            b"538 5.7.11 Encryption required for requested authentication mechanism\r\n"
        );
    }

    #[test]
    fn renders_multi_line_replies() {
        let reply = Reply::plain(250, "pec-a.test\nPIPELINING\nSIZE 1000");
        assert_eq!(
            String::from_utf8(reply.to_bytes()).unwrap(),
            "250-pec-a.test\r\n250-PIPELINING\r\n250 SIZE 1000\r\n"
        );
        let reply = Reply::new(550, (5, 1, 1), "first\nsecond");
        assert_eq!(
            String::from_utf8(reply.to_bytes()).unwrap(),
            "550-5.1.1 first\r\n550 5.1.1 second\r\n"
        );
    }

    #[test]
    fn empty_challenge_keeps_the_space() {
        assert_eq!(Reply::plain(334, "").to_bytes(), b"334 \r\n");
    }

    #[test]
    fn control_characters_cannot_inject_lines() {
        let reply = Reply::new(550, (5, 0, 0), "bad\r250 OK\0");
        assert_eq!(reply.to_bytes(), b"550 5.0.0 bad 250 OK \r\n");
        assert_eq!(Reply::plain(99, "x").code(), 200);
    }

    #[test]
    fn classifies_codes() {
        assert!(Reply::OK.is_positive());
        assert!(Reply::START_DATA.is_positive());
        assert!(Reply::TOO_MANY_RECIPIENTS.is_transient());
        assert!(Reply::AUTH_FAILED.is_permanent());
        assert_eq!(
            Reply::AUTH_FAILED.to_string(),
            "535 5.7.8 Authentication credentials invalid"
        );
    }
}
