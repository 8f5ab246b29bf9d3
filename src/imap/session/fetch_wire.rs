//! FETCH responses written straight to wire bytes. imap-codec builds a response as a
//! list of fragments and then concatenates them, and each literal must first be copied
//! and checked into a `Literal`: for `FETCH 1:*` of header fields or for a hundred
//! whole bodies that cost more than reading them. So literal items (`BODY[…]`,
//! `BINARY[…]`, `RFC822…`) are written here: the text in front of the literal
//! (`BODY[HEADER.FIELDS (FROM TO)] `) comes from the codec once per command, then each
//! message gets `{n}\r\n` and its bytes as read, a large body as a chunk of its own so
//! that it goes to the socket from the buffer it was read into. Every other item
//! (FLAGS, ENVELOPE, BODYSTRUCTURE, …) is still encoded by the codec.

use std::io::Write;

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

    /// Whether the item at `index` is written as a literal here (else the codec
    /// writes it, given as a [`Message::item`]).
    pub(super) fn is_literal(&self, index: usize) -> bool {
        self.prefixes.get(index).is_some_and(Option::is_some)
    }

    /// Starts the response for message `seq`.
    pub(super) fn start(&self, seq: u32) -> Message<'_> {
        Message {
            writer: self,
            seq,
            chunks: Vec::new(),
            line: Vec::new(),
            pending: Vec::new(),
            first: true,
            whole: None,
            broken: false,
        }
    }
}

/// One message's `* seq FETCH (…)\r\n`, item by item.
pub(super) struct Message<'w> {
    writer: &'w Writer,
    seq: u32,
    /// Finished pieces (a large literal is one of its own).
    chunks: Vec<Vec<u8>>,
    /// The piece being written.
    line: Vec<u8>,
    /// Items for the codec, not yet written.
    pending: Vec<MessageDataItem<'static>>,
    first: bool,
    /// The chunk that [`Message::finish`] fills with the message's own buffer.
    whole: Option<usize>,
    /// The codec's text had an unexpected shape; nothing is sent for the message.
    broken: bool,
}

impl Message<'_> {
    /// Whether nothing was given yet.
    pub(super) fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.line.is_empty() && self.chunks.is_empty()
    }

    /// An item the codec writes.
    pub(super) fn item(&mut self, item: MessageDataItem<'static>) {
        self.pending.push(item);
    }

    /// The literal item at `name` (an index into the writer's names), copied.
    pub(super) fn literal(&mut self, name: usize, bytes: &[u8]) {
        if bytes.len() >= OWN_CHUNK {
            self.literal_owned(name, bytes.to_vec());
        } else if self.head(name, bytes.len()) {
            let from = self.line.len();
            self.line.extend_from_slice(bytes);
            let mut line = std::mem::take(&mut self.line);
            if let Some(copied) = line.get_mut(from..) {
                self.blank(copied, name);
            }
            self.line = line;
        }
    }

    /// Whether the item at `index` is to be given as a literal.
    pub(super) fn is_literal(&self, index: usize) -> bool {
        self.writer.is_literal(index)
    }

    /// The literal item at `name`; a large one is sent from `bytes` itself.
    pub(super) fn literal_owned(&mut self, name: usize, mut bytes: Vec<u8>) {
        if bytes.len() < OWN_CHUNK {
            self.literal(name, &bytes);
        } else if self.head(name, bytes.len()) {
            self.blank(&mut bytes, name);
            self.chunks.push(std::mem::take(&mut self.line));
            self.chunks.push(bytes);
        }
    }

    /// The literal item at `name`, `len` bytes long, to be the buffer given to
    /// [`Message::finish`] (a whole message, sent from the buffer it was read into).
    pub(super) fn literal_later(&mut self, name: usize, len: usize) {
        if self.head(name, len) {
            self.chunks.push(std::mem::take(&mut self.line));
            self.whole = Some(self.chunks.len());
            self.chunks.push(Vec::new());
        }
    }

    /// The finished response; `whole` fills a [`Message::literal_later`]. `None` if
    /// there is nothing to send, or the codec's text for an item did not have the
    /// expected shape (never seen; logged by the caller rather than send a malformed
    /// response).
    pub(super) fn finish(mut self, whole: Option<Vec<u8>>) -> Option<Out> {
        if self.chunks.is_empty() && self.line.is_empty() {
            // No literal: the codec writes the whole response, as before.
            return Some(reply::data(Data::Fetch {
                seq: reply::nz(self.seq),
                items: Vec1::try_from(self.pending).ok()?,
            }));
        }
        self.flush();
        if self.broken {
            return None;
        }
        if let (Some(at), Some(mut bytes)) = (self.whole, whole)
            && let Some(slot) = self.chunks.get_mut(at)
        {
            // A whole message is only ever a `BODY[]`/`RFC822` literal, never literal8.
            blank_nuls(&mut bytes);
            *slot = bytes;
        }
        self.line.extend_from_slice(b")\r\n");
        if self.chunks.is_empty() {
            // Every literal was copied into the line.
            return Some(Out::Raw(self.line));
        }
        self.chunks.push(self.line);
        Some(Out::Chunks(self.chunks))
    }

    /// Writes what is pending, then the text before a literal and its `{n}\r\n`;
    /// `false` if the item has no prefix (then nothing is written).
    fn head(&mut self, name: usize, len: usize) -> bool {
        let writer = self.writer;
        let Some(prefix) = writer.prefixes.get(name).and_then(Option::as_ref) else {
            self.broken = true;
            return false;
        };
        if self.line.is_empty() && self.chunks.is_empty() {
            self.line
                .reserve(64 + prefix.text.len() + len.min(OWN_CHUNK));
            self.start_line();
        }
        self.flush();
        if !self.first {
            self.line.push(b' ');
        }
        self.first = false;
        self.line.extend_from_slice(&prefix.text);
        if prefix.eight {
            self.line.push(b'~');
        }
        // Writing to a `Vec` cannot fail.
        let _ = write!(self.line, "{{{len}}}\r\n");
        true
    }

    /// `* seq FETCH (`.
    fn start_line(&mut self) {
        // Writing to a `Vec` cannot fail.
        let _ = write!(self.line, "* {} FETCH (", reply::nz(self.seq));
    }

    /// Writes the pending items with the codec.
    fn flush(&mut self) {
        if !self.pending.is_empty() && self.line.is_empty() && self.chunks.is_empty() {
            self.start_line();
        }
        if encode_items(&mut self.line, &mut self.pending, &mut self.first).is_none() {
            self.broken = true;
        }
    }

    /// IMAP literals may not hold NUL; they go out as spaces (literal8 may).
    fn blank(&self, bytes: &mut [u8], name: usize) {
        let eight = self
            .writer
            .prefixes
            .get(name)
            .and_then(Option::as_ref)
            .is_some_and(|p| p.eight);
        if !eight {
            blank_nuls(bytes);
        }
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
    let mut text = encoded
        .strip_prefix(b"* 1 FETCH (".as_slice())?
        .strip_suffix(tail)?
        .to_vec();
    if let N::Binary {
        partial: Some((origin, _)),
        ..
    } = name
    {
        // A partial BINARY names its origin (RFC 3516 §4.2, as BODY does), which the
        // codec's item has no field for: `BINARY[1]<0> `.
        text.truncate(text.trim_ascii_end().len());
        text.extend_from_slice(format!("<{origin}> ").as_bytes());
    }
    Some(Prefix { text, eight })
}

/// Replaces NUL bytes with spaces.
fn blank_nuls(bytes: &mut [u8]) {
    let mut from = 0;
    while let Some(at) = bytes.get(from..).and_then(|rest| memchr::memchr(0, rest)) {
        bytes[from + at] = b' ';
        from += at + 1;
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use imap_codec::imap_types::core::AString;
    use imap_codec::imap_types::fetch::Section;

    use super::*;

    fn literal(bytes: &[u8]) -> NString<'static> {
        NString(Some(IString::Literal(
            Literal::try_from(bytes.to_vec()).unwrap(),
        )))
    }

    /// The codec's bytes for the same items: what FETCH sent before this writer.
    fn codec(seq: u32, items: Vec<MessageDataItem<'static>>) -> Vec<u8> {
        reply::data(Data::Fetch {
            seq: reply::nz(seq),
            items: Vec1::try_from(items).unwrap(),
        })
        .encode()
    }

    #[test]
    fn literal_items_come_out_as_the_codec_writes_them() {
        let fields = Section::HeaderFields(
            None,
            Vec1::try_from(vec![
                AString::try_from("FROM").unwrap(),
                AString::try_from("Message-ID").unwrap(),
            ])
            .unwrap(),
        );
        let partial = Some((2, NonZeroU32::new(5).unwrap()));
        let names = vec![
            MessageDataItemName::Uid,
            MessageDataItemName::BodyExt {
                section: Some(fields.clone()),
                partial: None,
                peek: true,
            },
            MessageDataItemName::Flags,
            MessageDataItemName::BodyExt {
                section: None,
                partial,
                peek: false,
            },
            MessageDataItemName::Rfc822Header,
            MessageDataItemName::Binary {
                section: vec![NonZeroU32::MIN],
                partial: None,
                peek: true,
            },
        ];
        let writer = Writer::new(&names);
        assert!(!writer.is_literal(0) && writer.is_literal(1) && !writer.is_literal(2));
        let header = b"From: a@b\r\nMessage-ID: <x>\r\n\r\n".to_vec();
        let big = vec![b'x'; 3 * OWN_CHUNK];
        let mut message = writer.start(3);
        message.item(MessageDataItem::Uid(reply::nz(7)));
        message.literal(1, &header);
        message.item(MessageDataItem::Flags(Vec::new()));
        message.literal_later(3, big.len());
        message.literal(4, b"Subject: a\0b\r\n\r\n");
        message.literal(5, &[0, 1, 2]);
        let written = message.finish(Some(big.clone())).unwrap();
        assert!(matches!(&written, Out::Chunks(chunks) if chunks.len() == 3));
        let expected = codec(
            3,
            vec![
                MessageDataItem::Uid(reply::nz(7)),
                MessageDataItem::BodyExt {
                    section: Some(fields),
                    origin: None,
                    data: literal(&header),
                },
                MessageDataItem::Flags(Vec::new()),
                MessageDataItem::BodyExt {
                    section: None,
                    origin: Some(2),
                    data: literal(&big),
                },
                MessageDataItem::Rfc822Header(literal(b"Subject: a b\r\n\r\n")),
                MessageDataItem::Binary {
                    section: vec![NonZeroU32::MIN],
                    value: NString8::Literal8(Literal8 {
                        data: vec![0, 1, 2].into(),
                        mode: LiteralMode::Sync,
                    }),
                },
            ],
        );
        assert_eq!(
            String::from_utf8_lossy(&written.encode()),
            String::from_utf8_lossy(&expected)
        );
    }

    #[test]
    fn a_response_without_literals_is_left_to_the_codec() {
        let names = vec![MessageDataItemName::Uid, MessageDataItemName::Rfc822Size];
        let writer = Writer::new(&names);
        let items = vec![
            MessageDataItem::Uid(reply::nz(9)),
            MessageDataItem::Rfc822Size(120),
        ];
        let mut message = writer.start(1);
        for item in &items {
            message.item(item.clone());
        }
        let written = message.finish(None).unwrap();
        assert!(matches!(written, Out::Response(_)));
        assert_eq!(written.encode(), codec(1, items));
    }

    #[test]
    fn a_large_copied_literal_is_a_chunk_of_its_own() {
        let names = vec![MessageDataItemName::Rfc822Text];
        let writer = Writer::new(&names);
        let text = vec![b'y'; OWN_CHUNK + 1];
        let mut message = writer.start(2);
        message.literal(0, &text);
        let written = message.finish(None).unwrap();
        assert!(matches!(&written, Out::Chunks(chunks) if chunks.len() == 3));
        assert_eq!(
            written.encode(),
            codec(2, vec![MessageDataItem::Rfc822Text(literal(&text))])
        );
    }

    #[test]
    fn nul_bytes_become_spaces() {
        let mut bytes = b"\0a\0\0b\0".to_vec();
        blank_nuls(&mut bytes);
        assert_eq!(bytes, b" a  b ");
    }
}
