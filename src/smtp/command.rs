//! SMTP command lines, parsed into [`Command`]s that carry only what pecd uses.
//!
//! The grammar is RFC 5321 §4.1 (plus RFC 1870 `SIZE=`, RFC 6152 `BODY=8BITMIME`,
//! RFC 3207 STARTTLS and RFC 4954 AUTH); the parsing itself is done by `smtp-proto`.
//! Parameters pecd does not advertise (DSN, SMTPUTF8, REQUIRETLS, …) are refused with
//! `555` instead of being silently ignored. Pure: no I/O.

use std::borrow::Cow;

use smtp_proto::Error as ProtoError;
use smtp_proto::MAIL_BODY_7BIT;
use smtp_proto::MAIL_BODY_8BITMIME;
use smtp_proto::MailFrom;
use smtp_proto::RcptTo;
use smtp_proto::Request;

use crate::smtp::reply::Reply;

/// One client command.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Command {
    /// `EHLO domain` (RFC 5321 §4.1.1.1).
    Ehlo(String),
    /// `HELO domain`: the pre-ESMTP greeting, without extensions.
    Helo(String),
    /// `MAIL FROM:<reverse-path>`; the address is empty for the null sender.
    Mail {
        /// The reverse-path, without angle brackets.
        from: String,
        /// The RFC 1870 `SIZE=` declaration, when given.
        size: Option<usize>,
    },
    /// `RCPT TO:<forward-path>`.
    Rcpt(String),
    /// `DATA`.
    Data,
    /// `RSET`.
    Rset,
    /// `NOOP`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `VRFY`.
    Vrfy,
    /// `HELP`.
    Help,
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954 §4).
    Auth {
        /// PLAIN or LOGIN.
        mechanism: Mechanism,
        /// The base64 initial response, if the client sent one (`=` means empty).
        initial_response: Option<String>,
    },
    /// A command smtp-proto knows but pecd does not offer (EXPN, ETRN, BDAT, …).
    NotImplemented(&'static str),
}

/// The SASL mechanisms pecd offers (RFC 4616 PLAIN and the de facto LOGIN).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Mechanism {
    /// `PLAIN`: `authzid NUL authcid NUL password`, base64.
    Plain,
    /// `LOGIN`: user name and password in two base64 answers.
    Login,
}

/// Why a command line was refused.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum CommandError {
    /// Not an SMTP command at all.
    #[error("unknown command")]
    Unknown,
    /// A known command with malformed arguments.
    #[error("syntax error: expected {0}")]
    Syntax(&'static str),
    /// The MAIL reverse-path is not an address.
    #[error("bad sender address")]
    BadSender,
    /// The RCPT forward-path is not an address.
    #[error("bad recipient address")]
    BadRecipient,
    /// A MAIL or RCPT parameter pecd did not advertise.
    #[error("unsupported parameter {0}")]
    UnsupportedParameter(String),
    /// AUTH with a mechanism other than PLAIN or LOGIN.
    #[error("unknown authentication mechanism")]
    UnknownMechanism,
    /// NUL, control or non-ASCII bytes.
    #[error("invalid characters")]
    InvalidCharacters,
}

impl CommandError {
    /// The reply for the client: the one place command errors meet the wire.
    pub fn reply(&self) -> Reply {
        match self {
            CommandError::Unknown => Reply::UNKNOWN_COMMAND,
            CommandError::Syntax(_) => Reply::SYNTAX_ERROR,
            CommandError::BadSender => Reply::BAD_SENDER,
            CommandError::BadRecipient => Reply::BAD_RECIPIENT,
            CommandError::UnsupportedParameter(_) => Reply::UNSUPPORTED_PARAMETER,
            CommandError::UnknownMechanism => Reply::UNKNOWN_MECHANISM,
            CommandError::InvalidCharacters => Reply::INVALID_CHARACTERS,
        }
    }
}

/// Parses one command line, with or without its line ending.
pub fn parse(line: &[u8]) -> Result<Command, CommandError> {
    let body = strip_line_ending(line);
    if !body
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        return Err(CommandError::InvalidCharacters);
    }
    let mut terminated = Vec::with_capacity(body.len() + 2);
    terminated.extend_from_slice(body);
    terminated.extend_from_slice(b"\r\n");
    let request = Request::parse(&mut terminated.iter()).map_err(|error| refine(error, body))?;
    convert(request, body)
}

/// The line without its trailing CRLF (or bare LF).
pub fn strip_line_ending(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn convert(request: Request<Cow<'_, str>>, body: &[u8]) -> Result<Command, CommandError> {
    Ok(match request {
        Request::Ehlo { host } => Command::Ehlo(host.into_owned()),
        Request::Helo { host } => Command::Helo(host.into_owned()),
        Request::Mail { from } => mail(from)?,
        Request::Rcpt { to } => rcpt(to, body)?,
        Request::Data => Command::Data,
        Request::Rset => Command::Rset,
        Request::Noop { .. } => Command::Noop,
        Request::Quit => Command::Quit,
        Request::Vrfy { .. } => Command::Vrfy,
        Request::Help { .. } => Command::Help,
        Request::StartTls => Command::StartTls,
        Request::Auth {
            mechanism,
            initial_response,
        } => {
            let mechanism = match mechanism {
                smtp_proto::AUTH_PLAIN => Mechanism::Plain,
                smtp_proto::AUTH_LOGIN => Mechanism::Login,
                _ => return Err(CommandError::UnknownMechanism),
            };
            Command::Auth {
                mechanism,
                initial_response: (!initial_response.is_empty())
                    .then(|| initial_response.into_owned()),
            }
        }
        other @ (Request::Lhlo { .. }
        | Request::Bdat { .. }
        | Request::Expn { .. }
        | Request::Etrn { .. }
        | Request::Atrn { .. }
        | Request::Burl { .. }) => Command::NotImplemented(other.name()),
    })
}

/// MAIL FROM with SIZE and BODY=7BIT/8BITMIME at most; other extensions are refused.
fn mail(from: MailFrom<Cow<'_, str>>) -> Result<Command, CommandError> {
    let allowed = MAIL_BODY_7BIT | MAIL_BODY_8BITMIME;
    if from.flags & !allowed != 0 {
        return Err(CommandError::UnsupportedParameter(
            "BODY/SMTPUTF8/RET".into(),
        ));
    }
    let extensions = from.trans_id.is_some()
        || from.env_id.is_some()
        || from.solicit.is_some()
        || from.mtrk.is_some()
        || from.by != 0
        || from.hold_for != 0
        || from.hold_until != 0
        || from.mt_priority != 0;
    if extensions {
        return Err(CommandError::UnsupportedParameter("MAIL extension".into()));
    }
    // `AUTH=` (RFC 4954 §5) is accepted and ignored: pecd never relays on trust.
    Ok(Command::Mail {
        from: from.address.into_owned(),
        size: (from.size != 0).then_some(from.size),
    })
}

/// RCPT TO without extensions; `<postmaster>` alone, and never the null path.
fn rcpt(to: RcptTo<Cow<'_, str>>, body: &[u8]) -> Result<Command, CommandError> {
    if to.orcpt.is_some() || to.rrvs != 0 || to.flags != 0 {
        return Err(CommandError::UnsupportedParameter("RCPT extension".into()));
    }
    let address = to.address.into_owned();
    if !address.is_empty() {
        return Ok(Command::Rcpt(address));
    }
    // smtp-proto turns both `<>` and the bare `<postmaster>` into "".
    if memchr::memmem::find(body, b"<>").is_some() {
        return Err(CommandError::BadRecipient);
    }
    Ok(Command::Rcpt("postmaster".into()))
}

/// Turns a smtp-proto error into ours, looking at the verb where the error is vague.
fn refine(error: ProtoError, body: &[u8]) -> CommandError {
    let verb = body
        .split(|&b| b == b' ')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    match error {
        ProtoError::UnknownCommand => CommandError::Unknown,
        ProtoError::InvalidSenderAddress => CommandError::BadSender,
        ProtoError::InvalidRecipientAddress => CommandError::BadRecipient,
        ProtoError::UnsupportedParameter { param } => CommandError::UnsupportedParameter(param),
        ProtoError::SyntaxError { syntax } if verb == b"AUTH" => {
            // "AUTH" alone is a syntax error; "AUTH CRAM-MD5" a mechanism we lack.
            if body.len() > 5 {
                CommandError::UnknownMechanism
            } else {
                CommandError::Syntax(syntax)
            }
        }
        ProtoError::SyntaxError { syntax } => CommandError::Syntax(syntax),
        ProtoError::InvalidParameter { param } => CommandError::Syntax(param),
        ProtoError::NeedsMoreData { .. }
        | ProtoError::ResponseTooLong
        | ProtoError::InvalidResponse { .. } => CommandError::Syntax("a complete command line"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    fn err(line: &str) -> CommandError {
        parse(line.as_bytes()).unwrap_err()
    }

    #[test]
    fn parses_the_commands_pecd_serves() {
        assert_eq!(
            ok("EHLO client.test\r\n"),
            Command::Ehlo("client.test".into())
        );
        assert_eq!(ok("helo client.test"), Command::Helo("client.test".into()));
        assert_eq!(
            ok("MAIL FROM:<alice@pec-a.test> SIZE=1000 BODY=8BITMIME\r\n"),
            Command::Mail {
                from: "alice@pec-a.test".into(),
                size: Some(1000)
            }
        );
        assert_eq!(
            ok("mail from:<>\r\n"),
            Command::Mail {
                from: String::new(),
                size: None
            }
        );
        assert_eq!(
            ok("RCPT TO:<bob@pec-b.test>\r\n"),
            Command::Rcpt("bob@pec-b.test".into())
        );
        assert_eq!(
            ok("RCPT TO:<Postmaster>\r\n"),
            Command::Rcpt("postmaster".into())
        );
        for (line, command) in [
            ("DATA", Command::Data),
            ("RSET", Command::Rset),
            ("NOOP", Command::Noop),
            ("NOOP hello", Command::Noop),
            ("QUIT", Command::Quit),
            ("VRFY bob", Command::Vrfy),
            ("HELP", Command::Help),
            ("STARTTLS", Command::StartTls),
            ("EXPN list", Command::NotImplemented("EXPN")),
            ("BDAT 10 LAST", Command::NotImplemented("BDAT")),
        ] {
            assert_eq!(ok(line), command, "{line}");
        }
    }

    #[test]
    fn parses_auth() {
        assert_eq!(
            ok("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
            Command::Auth {
                mechanism: Mechanism::Plain,
                initial_response: Some("AGFsaWNlAHNlY3JldA==".into())
            }
        );
        assert_eq!(
            ok("auth login"),
            Command::Auth {
                mechanism: Mechanism::Login,
                initial_response: None
            }
        );
        assert_eq!(err("AUTH CRAM-MD5"), CommandError::UnknownMechanism);
        assert_eq!(err("AUTH XYZZY"), CommandError::UnknownMechanism);
        assert!(matches!(err("AUTH"), CommandError::Syntax(_)));
    }

    #[test]
    fn refuses_garbage_and_unadvertised_parameters() {
        assert_eq!(err("FOO bar"), CommandError::Unknown);
        assert_eq!(
            err("MAIL FROM:<a@b.test>\0"),
            CommandError::InvalidCharacters
        );
        assert_eq!(err("MAIL FROM:<à@b.test>"), CommandError::InvalidCharacters);
        assert_eq!(err("\x1b[31m"), CommandError::InvalidCharacters);
        assert!(matches!(err("MAIL TO:<a@b.test>"), CommandError::Syntax(_)));
        assert_eq!(err("MAIL FROM:<a..b@c.test>"), CommandError::BadSender);
        assert_eq!(err("RCPT TO:<>"), CommandError::BadRecipient);
        assert!(matches!(
            err("MAIL FROM:<a@b.test> SMTPUTF8"),
            CommandError::UnsupportedParameter(_)
        ));
        assert!(matches!(
            err("MAIL FROM:<a@b.test> FOO=1"),
            CommandError::UnsupportedParameter(_)
        ));
        assert!(matches!(
            err("RCPT TO:<a@b.test> NOTIFY=NEVER"),
            CommandError::UnsupportedParameter(_)
        ));
        assert!(matches!(err("EHLO"), CommandError::Syntax(_)));
        assert_eq!(err(""), CommandError::Unknown);
    }
}
