//! Framing of client input, sans I/O: bytes in, whole messages out (a command with its
//! literals, a SASL line, `DONE`), with the continuation requests synchronizing
//! literals need (RFC 3501 §7.5) and the size limits, on top of imap-codec's
//! `Fragmentizer`. The async shell only reads, writes and waits.

use imap_codec::fragmentizer::FragmentInfo;
use imap_codec::fragmentizer::Fragmentizer;
use imap_codec::fragmentizer::LiteralAnnouncement;
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::core::LiteralMode;
use imap_codec::imap_types::response::Code;

use crate::imap::reply;
use crate::imap::reply::Out;

/// The longest command line (literals excluded) before the command is refused.
pub const MAX_LINE: usize = 64 * 1024;

/// What the framer needs next.
#[derive(Debug)]
pub enum Framed {
    /// More bytes from the client.
    NeedMore,
    /// Send this (a `+` for a literal, or the refusal of an oversized one), then go on.
    Send(Out),
    /// A whole message is ready in [`Framer::message`].
    Message,
}

/// Client input being framed.
pub struct Framer {
    fragmentizer: Fragmentizer,
    max_literal: u32,
}

impl Framer {
    /// A framer taking literals up to `max_literal` bytes.
    pub fn new(max_literal: u32) -> Framer {
        Framer {
            // The whole message, its literals included, stays within the limit.
            fragmentizer: Fragmentizer::new(max_literal.saturating_add(MAX_LINE as u32)),
            max_literal,
        }
    }

    /// Adds bytes read from the client.
    pub fn enqueue(&mut self, bytes: &[u8]) {
        self.fragmentizer.enqueue_bytes(bytes);
    }

    /// Advances; call until it answers [`Framed::NeedMore`] or [`Framed::Message`].
    pub fn progress(&mut self) -> Framed {
        loop {
            match self.fragmentizer.progress() {
                None => return Framed::NeedMore,
                Some(FragmentInfo::Line {
                    announcement: Some(LiteralAnnouncement { mode, length }),
                    ..
                }) => {
                    if length > self.max_literal {
                        let tag = self.fragmentizer.decode_tag().map(IntoStatic::into_static);
                        // A synchronizing literal is never sent once refused; a
                        // non-synchronizing one arrives anyway and is dropped unread.
                        if mode == LiteralMode::Sync && tag.is_some() {
                            self.fragmentizer.skip_message();
                        } else {
                            self.fragmentizer.poison_message();
                        }
                        if let Some(tag) = tag {
                            return Framed::Send(reply::no(
                                &tag,
                                Some(Code::TooBig),
                                "literal too large",
                            ));
                        }
                    } else if mode == LiteralMode::Sync {
                        return Framed::Send(reply::continuation("ready for literal"));
                    }
                }
                Some(FragmentInfo::Line { start, end, .. }) if end - start > MAX_LINE => {
                    self.fragmentizer.poison_message();
                }
                Some(_) => {}
            }
            if self.fragmentizer.is_message_complete() {
                return Framed::Message;
            }
        }
    }

    /// The message [`Framed::Message`] announced.
    pub fn message(&self) -> &[u8] {
        self.fragmentizer.message_bytes()
    }

    /// Whether the message was cut or poisoned (too long, refused literal): it must be
    /// answered with an error, never decoded.
    pub fn is_damaged(&self) -> bool {
        self.fragmentizer.is_message_poisoned() || self.fragmentizer.is_max_message_size_exceeded()
    }

    /// The tag of the current message, when it has a valid one.
    pub fn tag(&self) -> Option<imap_codec::imap_types::core::Tag<'_>> {
        self.fragmentizer.decode_tag()
    }
}
