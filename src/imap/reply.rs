//! What the session says back, before encoding: imap-types responses, encoded by
//! imap-codec, plus the one response the codec does not know yet (ESEARCH, RFC 4731),
//! written by hand.

use std::borrow::Cow;
use std::num::NonZeroU32;

use imap_codec::ResponseCodec;
use imap_codec::encode::Encoder;
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::core::Tag;
use imap_codec::imap_types::core::Text;
use imap_codec::imap_types::response::Code;
use imap_codec::imap_types::response::CommandContinuationRequest;
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::response::Response;
use imap_codec::imap_types::response::Status;
use imap_codec::imap_types::response::StatusBody;
use imap_codec::imap_types::response::StatusKind;
use imap_codec::imap_types::response::Tagged;

/// One thing to send.
#[derive(Clone, Debug)]
pub enum Out {
    /// A response the codec encodes.
    Response(Response<'static>),
    /// Bytes written as they are: one or more complete responses, CRLF included (a
    /// FETCH packs its small responses into blocks).
    Raw(Vec<u8>),
    /// One complete response in pieces, written one after the other: a FETCH response
    /// with a message body sent from the buffer it was read into.
    Chunks(Vec<Vec<u8>>),
}

impl Out {
    /// The wire bytes.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Out::Response(response) => ResponseCodec::default().encode(response).dump(),
            Out::Raw(bytes) => bytes.clone(),
            Out::Chunks(chunks) => chunks.concat(),
        }
    }

    /// The wire bytes in order, borrowing what is already bytes (a response's pieces
    /// can then go to the socket without being copied together first).
    pub fn pieces(&self) -> Vec<Cow<'_, [u8]>> {
        match self {
            Out::Response(response) => {
                vec![Cow::Owned(ResponseCodec::default().encode(response).dump())]
            }
            Out::Raw(bytes) => vec![Cow::Borrowed(bytes.as_slice())],
            Out::Chunks(chunks) => chunks.iter().map(|c| Cow::Borrowed(c.as_slice())).collect(),
        }
    }
}

/// A status text, never empty and never holding a line break.
fn text(text: &str) -> Text<'static> {
    let clean: String = text.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    // An empty text is the only other failure; "done" is valid by construction.
    Text::try_from(clean).unwrap_or_else(|_| Text::unvalidated("done"))
}

fn status(tag: Option<&Tag<'_>>, kind: StatusKind, code: Option<Code<'static>>, t: &str) -> Out {
    let body = StatusBody {
        kind,
        code,
        text: text(t),
    };
    Out::Response(Response::Status(match tag {
        Some(tag) => Status::Tagged(Tagged {
            tag: tag.clone().into_static(),
            body,
        }),
        None => Status::Untagged(body),
    }))
}

/// `tag OK [code] text`.
pub fn ok(tag: &Tag<'_>, code: Option<Code<'static>>, t: &str) -> Out {
    status(Some(tag), StatusKind::Ok, code, t)
}

/// `tag NO [code] text`.
pub fn no(tag: &Tag<'_>, code: Option<Code<'static>>, t: &str) -> Out {
    status(Some(tag), StatusKind::No, code, t)
}

/// `tag BAD text`.
pub fn bad(tag: &Tag<'_>, t: &str) -> Out {
    status(Some(tag), StatusKind::Bad, None, t)
}

/// `* BAD text`, for input without a usable tag.
pub fn untagged_bad(t: &str) -> Out {
    status(None, StatusKind::Bad, None, t)
}

/// `* OK [code] text`.
pub fn untagged_ok(code: Option<Code<'static>>, t: &str) -> Out {
    status(None, StatusKind::Ok, code, t)
}

/// `* BYE text`.
pub fn bye(t: &str) -> Out {
    Out::Response(Response::Status(Status::Bye(
        imap_codec::imap_types::response::Bye {
            code: None,
            text: text(t),
        },
    )))
}

/// `+ text`.
pub fn continuation(t: &str) -> Out {
    match CommandContinuationRequest::basic(None, text(t)) {
        Ok(request) => Out::Response(Response::CommandContinuationRequest(request)),
        Err(_) => Out::Raw(b"+ \r\n".to_vec()),
    }
}

/// Untagged data.
pub fn data(data: Data<'static>) -> Out {
    Out::Response(Response::Data(data))
}

/// A non-zero number from a count that is positive by construction (UIDs start at 1);
/// 1 when it is not, which clients read as harmlessly as any other value.
pub fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}
