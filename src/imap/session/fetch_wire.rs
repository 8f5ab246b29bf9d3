//! FETCH responses written straight to wire bytes. imap-codec builds a response as a
//! list of fragments and then concatenates them, and each literal must first be copied
//! and checked into a `Literal`: for `FETCH 1:*` of header fields or for a hundred
//! whole bodies that cost more than reading them. So literal items (`BODY[…]`,
//! `BINARY[…]`, `RFC822…`) are written here: the text in front of the literal
//! (`BODY[HEADER.FIELDS (FROM TO)] `) comes from the codec once per command, then each
//! message gets `{n}\r\n` and its bytes as read, a large body as a chunk of its own so
//! that it goes to the socket from the buffer it was read into. Every other item
//! (FLAGS, ENVELOPE, BODYSTRUCTURE, …) is still encoded by the codec.

use imap_codec::ResponseCodec;
use imap_codec::encode::Encoder;
use imap_codec::imap_types::core::IString;
use imap_codec::imap_types::core::Literal;
use imap_codec::imap_types::core::LiteralMode;
use imap_codec::imap_types::core::NString;
use imap_codec::imap_types::core::NString8;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::extensions::binary::Literal8;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::fetch::MessageDataItemName;
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::response::Response;

use crate::imap::reply;
use crate::imap::reply::Out;

/// Literals at least this long are sent as a chunk of their own rather than copied
/// into the response line.
const OWN_CHUNK: usize = 16 * 1024;

/// One answered item of one message.
pub(super) enum Piece {
    /// Encoded by the codec.
    Item(MessageDataItem<'static>),
    /// The bytes of the literal item at this index of the command's item names.
    Literal {
        /// Index into the names the [`Writer`] was made for.
        name: usize,
        /// The literal's bytes, NUL bytes included (they are replaced here).
        bytes: Vec<u8>,
    },
}

/// The text in front of one literal item's literal.
struct Prefix {
    text: Vec<u8>,
    /// `~{n}` (RFC 3516 literal8, may hold NUL) instead of `{n}`.
    eight: bool,
}

/// How one FETCH command's items are written, worked out once per command.
pub(super) struct Writer {
    prefixes: Vec<Option<Prefix>>,
}

impl Writer {
    /// The writer for these item names: the prefix of each literal item, from the codec.
    pub(super) fn new(names: &[MessageDataItemName<'static>]) -> Writer {
        Writer {
            prefixes: names.iter().map(prefix).collect(),
        }
    }

    /// Whether the item at `index` is written as a [`Piece::Literal`].
    pub(super) fn is_literal(&self, index: usize) -> bool {
        self.prefixes.get(index).is_some_and(Option::is_some)
    }

    /// `* seq FETCH (…)\r\n` for one message. `None` if the codec's text for the other
    /// items does not have the expected shape (never seen; the caller then drops the
    /// message's response rather than send a malformed one).
    pub(super) fn message(&self, seq: u32, pieces: Vec<Piece>) -> Option<Out> {
        if pieces.iter().all(|p| matches!(p, Piece::Item(_))) {
            // Nothing to gain: the codec writes the whole response, as before.
            let items: Vec<MessageDataItem<'static>> = pieces
                .into_iter()
                .filter_map(|p| match p {
                    Piece::Item(item) => Some(item),
                    Piece::Literal { .. } => None,
                })
                .collect();
            return Some(reply::data(Data::Fetch {
                seq: reply::nz(seq),
                items: Vec1::try_from(items).ok()?,
            }));
        }
        let mut chunks = Vec::new();
        let mut line = format!("* {} FETCH (", reply::nz(seq)).into_bytes();
        let mut pending = Vec::new();
        let mut first = true;
        for piece in pieces {
            match piece {
                Piece::Item(item) => pending.push(item),
                Piece::Literal { name, mut bytes } => {
                    let prefix = self.prefixes.get(name)?.as_ref()?;
                    encode_items(&mut line, &mut pending, &mut first)?;
                    if !first {
                        line.push(b' ');
                    }
                    first = false;
                    line.extend_from_slice(&prefix.text);
                    if prefix.eight {
                        line.push(b'~');
                    } else {
                        // IMAP literals may not hold NUL; they go out as spaces.
                        blank_nuls(&mut bytes);
                    }
                    line.extend_from_slice(format!("{{{}}}\r\n", bytes.len()).as_bytes());
                    if bytes.len() >= OWN_CHUNK {
                        chunks.push(std::mem::take(&mut line));
                        chunks.push(bytes);
                    } else {
                        line.extend_from_slice(&bytes);
                    }
                }
            }
        }
        encode_items(&mut line, &mut pending, &mut first)?;
        line.extend_from_slice(b")\r\n");
        chunks.push(line);
        Some(Out::Chunks(chunks))
    }
}

/// Appends the codec's encoding of `pending` (space-separated items) to `line`.
fn encode_items(
    line: &mut Vec<u8>,
    pending: &mut Vec<MessageDataItem<'static>>,
    first: &mut bool,
) -> Option<()> {
    if pending.is_empty() {
        return Some(());
    }
    let items = Vec1::try_from(std::mem::take(pending)).ok()?;
    let encoded = ResponseCodec::default()
        .encode(&Response::Data(Data::Fetch {
            seq: reply::nz(1),
            items,
        }))
        .dump();
    let inner = encoded
        .strip_prefix(b"* 1 FETCH (".as_slice())?
        .strip_suffix(b")\r\n".as_slice())?;
    if !*first {
        line.push(b' ');
    }
    *first = false;
    line.extend_from_slice(inner);
    Some(())
}

/// The codec's text in front of the literal of a literal item (`BODY[1]<0> `), found
/// by encoding the item with an empty literal; `None` for items without a literal.
fn prefix(name: &MessageDataItemName<'static>) -> Option<Prefix> {
    use MessageDataItemName as N;
    let empty = || {
        NString(
            Literal::try_from(Vec::<u8>::new())
                .ok()
                .map(IString::Literal),
        )
    };
    let (item, eight) = match name {
        N::BodyExt {
            section, partial, ..
        } => (
            MessageDataItem::BodyExt {
                section: section.clone(),
                origin: partial.map(|(origin, _)| origin),
                data: empty(),
            },
            false,
        ),
        N::Rfc822 => (MessageDataItem::Rfc822(empty()), false),
        N::Rfc822Header => (MessageDataItem::Rfc822Header(empty()), false),
        N::Rfc822Text => (MessageDataItem::Rfc822Text(empty()), false),
        N::Binary { section, .. } => (
            MessageDataItem::Binary {
                section: section.clone(),
                value: NString8::Literal8(Literal8 {
                    data: Vec::new().into(),
                    mode: LiteralMode::Sync,
                }),
            },
            true,
        ),
        _ => return None,
    };
    let encoded = ResponseCodec::default()
        .encode(&Response::Data(Data::Fetch {
            seq: reply::nz(1),
            items: Vec1::from(item),
        }))
        .dump();
    let tail: &[u8] = if eight {
        b"~{0}\r\n)\r\n"
    } else {
        b"{0}\r\n)\r\n"
    };
    let text = encoded
        .strip_prefix(b"* 1 FETCH (".as_slice())?
        .strip_suffix(tail)?;
    Some(Prefix {
        text: text.to_vec(),
        eight,
    })
}

/// Replaces NUL bytes with spaces.
fn blank_nuls(bytes: &mut [u8]) {
    let mut from = 0;
    while let Some(at) = bytes.get(from..).and_then(|rest| memchr::memchr(0, rest)) {
        bytes[from + at] = b' ';
        from += at + 1;
    }
}
