//! Framing of client input, sans I/O: bytes in, whole messages out (a command with its
//! literals, a SASL line, `DONE`), with the continuation requests synchronizing
//! literals need (RFC 3501 §7.5) and the size limits, on top of imap-codec's
//! `Fragmentizer`. The async shell only reads, writes and waits.
//!
//! Before login the limits are small: nobody has been identified, and LOGIN or
//! AUTHENTICATE need a few hundred bytes, so a peer may not make the server hold more
//! than one command line. A literal announced beyond [`MAX_LITERAL_BEFORE_LOGIN`] is
//! refused before it is read, and a message growing past [`MAX_LINE`] ends the
//! connection. Once the client has logged in, literals may be as large as an APPEND.

use imap_codec::fragmentizer::FragmentInfo;
use imap_codec::fragmentizer::Fragmentizer;
use imap_codec::fragmentizer::LiteralAnnouncement;
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::core::LiteralMode;
use imap_codec::imap_types::response::Code;

use crate::imap::reply;
use crate::imap::reply::Out;

/// The longest command line (literals excluded) before the command is refused; before
/// login, also the most a whole message (lines and literals) may hold.
pub const MAX_LINE: usize = 64 * 1024;

/// The largest literal taken before login: room for any user name or password.
pub const MAX_LITERAL_BEFORE_LOGIN: u32 = 8 * 1024;

/// What the framer needs next.
#[derive(Debug)]
pub enum Framed {
    /// More bytes from the client.
    NeedMore,
    /// Send this (a `+` for a literal, or the refusal of an oversized one), then go on.
    Send(Out),
    /// A whole message is ready in [`Framer::message`].
    Message,
    /// Send this (`* BYE`) and close: the unauthenticated client sent more than a
    /// command, and reading on would mean holding it.
    Close(Out),
}

/// Client input being framed.
pub struct Framer {
    fragmentizer: Fragmentizer,
    /// The largest literal the logged-in client may send (the APPEND limit).
    max_append_literal: u32,
    logged_in: bool,
}

impl Framer {
    /// A framer for a client not logged in yet, which will take literals up to
    /// `max_append_literal` bytes once [`Framer::logged_in`] is called.
    pub fn new(max_append_literal: u32) -> Framer {
        Framer {
            // The whole message, its literals included, stays within the limit.
            fragmentizer: Fragmentizer::new(max_append_literal.saturating_add(MAX_LINE as u32)),
            max_append_literal,
            logged_in: false,
        }
    }

    /// The client has authenticated: literals up to the APPEND limit are taken from
    /// the next message on.
    pub fn logged_in(&mut self) {
        self.logged_in = true;
    }

    fn max_literal(&self) -> u32 {
        if self.logged_in {
            self.max_append_literal
        } else {
            MAX_LITERAL_BEFORE_LOGIN.min(self.max_append_literal)
        }
    }

    /// Adds bytes read from the client.
    pub fn enqueue(&mut self, bytes: &[u8]) {
        self.fragmentizer.enqueue_bytes(bytes);
    }

    /// Advances; call until it answers [`Framed::NeedMore`] or [`Framed::Message`].
    pub fn progress(&mut self) -> Framed {
        loop {
            let fragment = self.fragmentizer.progress();
            if !self.logged_in && self.fragmentizer.message_bytes().len() > MAX_LINE {
                return Framed::Close(reply::bye("command too long before login"));
            }
            match fragment {
                None => return Framed::NeedMore,
                Some(FragmentInfo::Line {
                    announcement: Some(LiteralAnnouncement { mode, length }),
                    ..
                }) => {
                    if length > self.max_literal()
                        && !self.logged_in
                        && mode == LiteralMode::NonSync
                    {
                        // It is on its way already; the only way not to hold it is to go.
                        return Framed::Close(reply::bye("literal too large before login"));
                    }
                    if length > self.max_literal() {
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

    /// Whether no message is under way: every byte read so far was framed and
    /// answered. Only then may the server speak unasked (NOTIFY, RFC 5465).
    pub fn is_between_messages(&self) -> bool {
        self.fragmentizer.message_bytes().is_empty()
    }

    /// Lets go of the memory the last messages grew (the fragmentizer keeps its
    /// largest message's room): an idle connection then holds next to nothing. Only
    /// between messages, where a fresh fragmentizer is in the same state.
    pub fn release(&mut self) {
        if self.is_between_messages() {
            self.fragmentizer =
                Fragmentizer::new(self.max_append_literal.saturating_add(MAX_LINE as u32));
        }
    }

    /// The tag of the current message, when it has a valid one.
    pub fn tag(&self) -> Option<imap_codec::imap_types::core::Tag<'_>> {
        self.fragmentizer.decode_tag()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(framer: &mut Framer, input: &[u8]) -> Vec<String> {
        framer.enqueue(input);
        let mut seen = Vec::new();
        loop {
            match framer.progress() {
                Framed::NeedMore => return seen,
                Framed::Send(out) => seen.push(String::from_utf8_lossy(&out.encode()).into()),
                Framed::Close(out) => {
                    seen.push(format!("close {}", String::from_utf8_lossy(&out.encode())));
                    return seen;
                }
                Framed::Message => seen.push(format!(
                    "message {}",
                    String::from_utf8_lossy(framer.message())
                )),
            }
        }
    }

    #[test]
    fn before_login_a_big_literal_is_refused_unread() {
        let mut framer = Framer::new(100 << 20);
        let seen = frame(&mut framer, b"a LOGIN {104857600}\r\n");
        assert_eq!(seen, ["a NO [TOOBIG] literal too large\r\n"]);
        let small = frame(&mut framer, b"b LOGIN {4}\r\n");
        assert_eq!(small, ["+ ready for literal\r\n"]);
    }

    #[test]
    fn before_login_a_big_non_synchronizing_literal_closes_the_connection() {
        let mut framer = Framer::new(100 << 20);
        let seen = frame(&mut framer, b"a LOGIN {104857600+}\r\n");
        assert_eq!(seen.len(), 1);
        assert!(seen[0].starts_with("close * BYE"), "{seen:?}");
    }

    #[test]
    fn before_login_the_literal_sent_anyway_is_never_held() {
        let mut framer = Framer::new(100 << 20);
        frame(&mut framer, b"a LOGIN {104857600}\r\n");
        let mut closed = false;
        for _ in 0..64 {
            let seen = frame(&mut framer, &[b'x'; 8192]);
            assert!(framer.message().len() <= MAX_LINE + 8192);
            if seen.iter().any(|s| s.starts_with("close * BYE")) {
                closed = true;
                break;
            }
        }
        assert!(closed);
    }

    #[test]
    fn after_login_literals_up_to_the_append_limit_are_taken() {
        let mut framer = Framer::new(100 << 20);
        framer.logged_in();
        let seen = frame(&mut framer, b"a APPEND INBOX {104857600}\r\n");
        assert_eq!(seen, ["+ ready for literal\r\n"]);
        let mut framer = Framer::new(100 << 20);
        framer.logged_in();
        let seen = frame(&mut framer, b"a APPEND INBOX {104857601}\r\n");
        assert_eq!(seen, ["a NO [TOOBIG] literal too large\r\n"]);
    }

    /// Between messages the framer may start afresh without losing anything: a
    /// release while a literal is half in keeps it, and one after a message drops
    /// only the room that message took.
    #[test]
    fn release_keeps_a_message_under_way() {
        let mut framer = Framer::new(1 << 20);
        framer.logged_in();
        frame(&mut framer, b"a APPEND INBOX {10}\r\n01234");
        assert!(!framer.is_between_messages());
        framer.release();
        let seen = frame(&mut framer, b"56789\r\n");
        assert_eq!(seen, ["message a APPEND INBOX {10}\r\n0123456789\r\n"]);
        assert!(frame(&mut framer, b"").is_empty());
        assert!(framer.is_between_messages());
        framer.release();
        let seen = frame(&mut framer, b"b NOOP\r\n");
        assert_eq!(seen, ["message b NOOP\r\n"]);
    }
}
