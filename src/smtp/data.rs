//! The DATA body on the wire: dot-stuffing and the `<CRLF>.<CRLF>` terminator.
//!
//! RFC 5321 §4.5.2: a line of the message that starts with `.` is sent with one more
//! `.`, and the body ends with a line holding a single `.`. [`DataDecoder`] undoes this
//! while enforcing the size limit: once the limit is passed it keeps reading (and
//! discarding) up to the terminator, so the session survives and can answer `552`.
//! Only `<CRLF>.<CRLF>` terminates: a bare LF before the dot does not, which closes the
//! "SMTP smuggling" hole (CVE-2023-51764 and relatives). [`dot_stuff`] is the sending
//! side. Pure: no I/O.
//!
//! The body grows by doubling, and the caller may learn beforehand how much memory
//! the next bytes would take ([`DataDecoder::capacity_for`]), so that it can count
//! that against a budget shared with other sessions, and make the decoder drop the
//! body ([`DataDecoder::give_up`]) when there is no room.

/// What a complete DATA body turned out to be.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Body {
    /// The message, unstuffed, ending with the CRLF before the terminating dot.
    Complete(Vec<u8>),
    /// The message was larger than the limit; its bytes were discarded.
    TooLarge,
    /// There was no room to hold the message (see [`DataDecoder::give_up`]); its
    /// bytes were discarded.
    NoRoom,
}

/// Incremental decoder of one DATA body.
#[derive(Debug)]
pub struct DataDecoder {
    max_bytes: usize,
    body: Vec<u8>,
    dropped: Option<Body>,
    position: Position,
}

/// The first allocation of a body; it doubles from there.
const FIRST_CAPACITY: usize = 8 * 1024;

/// Where the decoder stands relative to line starts and the terminator.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Position {
    /// At the start of a line (just after CRLF, or at the very beginning).
    LineStart,
    /// A `.` at a line start was seen.
    Dot,
    /// `.` and CR at a line start were seen.
    DotCr,
    /// Inside a line.
    Middle,
    /// Inside a line, just after a CR.
    Cr,
}

impl DataDecoder {
    /// A decoder that accepts at most `max_bytes` of unstuffed message.
    pub fn new(max_bytes: usize) -> Self {
        DataDecoder {
            max_bytes,
            body: Vec::new(),
            dropped: None,
            position: Position::LineStart,
        }
    }

    /// The memory the body would hold after `more` input bytes (unstuffing never
    /// makes them more); no more than now once the body is dropped.
    pub fn capacity_for(&self, more: usize) -> usize {
        // Past the limit the body is dropped, not grown.
        let needed = self.body.len().saturating_add(more).min(self.max_bytes);
        let capacity = self.body.capacity();
        if self.dropped.is_some() || needed <= capacity {
            return capacity;
        }
        needed
            .max(capacity.saturating_mul(2))
            .max(FIRST_CAPACITY)
            .min(self.max_bytes)
    }

    /// Drops the body and reads on to the terminator: the message ends as
    /// [`Body::NoRoom`] unless it already was too large.
    pub fn give_up(&mut self) {
        self.dropped.get_or_insert(Body::NoRoom);
        self.body = Vec::new();
    }

    /// Feeds received bytes. Returns how many were consumed and, once the terminator
    /// has been read, the body. Bytes after the terminator are not consumed: they are
    /// the next (pipelined) command.
    pub fn feed(&mut self, input: &[u8]) -> (usize, Option<Body>) {
        let mut index = 0;
        while index < input.len() {
            if self.position == Position::Middle {
                // Fast path: copy up to the next CR in one go.
                let rest = &input[index..];
                match memchr::memchr(b'\r', rest) {
                    Some(offset) => {
                        self.push(&rest[..=offset]);
                        self.position = Position::Cr;
                        index += offset + 1;
                    }
                    None => {
                        self.push(rest);
                        index = input.len();
                    }
                }
                continue;
            }
            let byte = input[index];
            index += 1;
            self.position = match (self.position, byte) {
                (Position::LineStart, b'.') => Position::Dot,
                (Position::Dot, b'\r') => Position::DotCr,
                (Position::DotCr, b'\n') => return (index, Some(self.finish())),
                // A leading dot followed by anything else was stuffing: drop it.
                (Position::Dot, _) => self.advance_with(byte),
                (Position::DotCr, _) => {
                    self.push(b"\r");
                    self.advance_with(byte)
                }
                (Position::Cr, b'\n') => {
                    self.push(b"\n");
                    Position::LineStart
                }
                (Position::LineStart | Position::Middle | Position::Cr, _) => {
                    self.advance_with(byte)
                }
            };
        }
        (index, None)
    }

    fn advance_with(&mut self, byte: u8) -> Position {
        self.push(&[byte]);
        if byte == b'\r' {
            Position::Cr
        } else {
            Position::Middle
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.dropped.is_some() {
            return;
        }
        if self.body.len() + bytes.len() > self.max_bytes {
            self.dropped = Some(Body::TooLarge);
            self.body = Vec::new();
            return;
        }
        let capacity = self.capacity_for(bytes.len());
        self.body.reserve_exact(capacity - self.body.len());
        self.body.extend_from_slice(bytes);
    }

    fn finish(&mut self) -> Body {
        match self.dropped.take() {
            Some(dropped) => dropped,
            None => Body::Complete(std::mem::take(&mut self.body)),
        }
    }
}

/// Dot-stuffs `message` and appends the terminator, ready to send after `354`.
///
/// A message that does not end with CRLF gets one, so that the terminator stands on
/// its own line.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 5);
    let mut at_line_start = true;
    let mut previous = 0u8;
    for &byte in message {
        if at_line_start && byte == b'.' {
            out.push(b'.');
        }
        out.push(byte);
        at_line_start = previous == b'\r' && byte == b'\n';
        previous = byte;
    }
    if !message.is_empty() && !message.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_chunks(wire: &[u8], chunk: usize, max: usize) -> (Body, usize) {
        let mut decoder = DataDecoder::new(max);
        let mut offset = 0;
        while offset < wire.len() {
            let end = (offset + chunk).min(wire.len());
            let (used, body) = decoder.feed(&wire[offset..end]);
            offset += used;
            if let Some(body) = body {
                return (body, offset);
            }
        }
        panic!("no terminator in {wire:?}");
    }

    #[test]
    fn unstuffs_and_stops_at_the_terminator_in_any_chunking() {
        let wire = b"Subject: x\r\n\r\n..leading dot\r\n.\r\nNOOP\r\n";
        for chunk in 1..wire.len() {
            let (body, used) = decode_in_chunks(wire, chunk, 1000);
            assert_eq!(
                body,
                Body::Complete(b"Subject: x\r\n\r\n.leading dot\r\n".to_vec())
            );
            assert_eq!(&wire[used..], b"NOOP\r\n", "chunk {chunk}");
        }
    }

    #[test]
    fn an_empty_body_is_a_lone_dot() {
        assert_eq!(
            decode_in_chunks(b".\r\n", 3, 10).0,
            Body::Complete(Vec::new())
        );
    }

    #[test]
    fn bare_line_feeds_do_not_terminate() {
        let wire = b"a\n.\nMAIL FROM:<x@y>\r\na\r.\r\nb\r\n.\r\n";
        let (body, _) = decode_in_chunks(wire, 4, 1000);
        assert_eq!(
            body,
            Body::Complete(b"a\n.\nMAIL FROM:<x@y>\r\na\r.\r\nb\r\n".to_vec())
        );
    }

    #[test]
    fn a_leading_dot_before_cr_without_lf_is_stuffing() {
        let (body, _) = decode_in_chunks(b".\rx\r\n.\r\n", 1, 100);
        assert_eq!(body, Body::Complete(b"\rx\r\n".to_vec()));
    }

    #[test]
    fn too_large_bodies_are_read_to_the_end_and_discarded() {
        let mut wire = b"0123456789\r\n".repeat(10);
        wire.extend_from_slice(b".\r\nQUIT\r\n");
        let (body, used) = decode_in_chunks(&wire, 7, 50);
        assert_eq!(body, Body::TooLarge);
        assert_eq!(&wire[used..], b"QUIT\r\n");
        let (body, _) = decode_in_chunks(&wire, 7, 120);
        assert!(matches!(body, Body::Complete(b) if b.len() == 120));
    }

    #[test]
    fn growth_is_announced_before_it_happens() {
        let mut decoder = DataDecoder::new(100_000);
        let mut announced = decoder.capacity_for(0);
        assert_eq!(announced, 0);
        for _ in 0..20 {
            let line = [b'x'; 1000];
            announced = decoder.capacity_for(line.len() + 2);
            decoder.feed(&line);
            decoder.feed(b"\r\n");
            assert!(decoder.body.capacity() <= announced);
        }
        assert!(announced >= 20 * 1002);
        let (_, body) = decoder.feed(b".\r\n");
        assert!(matches!(body, Some(Body::Complete(b)) if b.len() == 20 * 1002));
    }

    #[test]
    fn given_up_bodies_are_read_to_the_end_and_dropped() {
        let mut decoder = DataDecoder::new(1000);
        decoder.feed(b"Subject: x\r\n\r\n");
        decoder.give_up();
        assert_eq!(decoder.capacity_for(500), 0);
        let (used, body) = decoder.feed(b"more text\r\n.\r\nQUIT\r\n");
        assert_eq!(body, Some(Body::NoRoom));
        assert_eq!(used, b"more text\r\n.\r\n".len());
    }

    #[test]
    fn stuffing_round_trips() {
        for message in [
            &b""[..],
            b"plain\r\n",
            b".\r\n..\r\n.x\r\n",
            b"no final newline",
            b"a\n.b\r\n.\rc\r\n",
        ] {
            let wire = dot_stuff(message);
            let (body, used) = decode_in_chunks(&wire, 3, 1000);
            assert_eq!(used, wire.len());
            let mut expected = message.to_vec();
            if !expected.is_empty() && !expected.ends_with(b"\r\n") {
                expected.extend_from_slice(b"\r\n");
            }
            assert_eq!(body, Body::Complete(expected), "{message:?}");
        }
    }
}
