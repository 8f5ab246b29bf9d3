//! A cursor over a framed command line (its literals inside it), for the commands
//! imap-codec does not parse: astrings, quoted strings and literals as RFC 3501 §9
//! writes them. Pure; every read returns `None` rather than fail on bad input.

/// Where parsing stands in a command.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A reader of `bytes` from offset `at`.
    pub(super) fn new(bytes: &'a [u8], at: usize) -> Reader<'a> {
        Reader { bytes, at }
    }
}

impl Reader<'_> {
    /// What is left.
    pub(super) fn rest(&self) -> &[u8] {
        self.bytes.get(self.at..).unwrap_or_default()
    }

    /// Moves past `n` bytes.
    pub(super) fn advance(&mut self, n: usize) {
        self.at += n;
    }

    /// One space, if there.
    pub(super) fn space(&mut self) -> bool {
        self.eat(b" ")
    }

    /// `expected` (ASCII case ignored), if there.
    pub(super) fn eat(&mut self, expected: &[u8]) -> bool {
        let matches = self
            .rest()
            .get(..expected.len())
            .is_some_and(|got| got.eq_ignore_ascii_case(expected));
        if matches {
            self.at += expected.len();
        }
        matches
    }

    /// An atom: the bytes up to a space, a parenthesis or the line end.
    pub(super) fn atom(&mut self) -> Option<Vec<u8>> {
        let rest = self.rest();
        let end = rest
            .iter()
            .position(|b| matches!(b, b' ' | b'(' | b')' | b'\r' | b'\n' | b'"' | b'{'))
            .unwrap_or(rest.len());
        let atom = rest[..end].to_vec();
        self.at += end;
        (!atom.is_empty()).then_some(atom)
    }

    /// `{n}`, `{n+}` or `~{n}` with its CRLF and data.
    pub(super) fn literal(&mut self) -> Option<Vec<u8>> {
        self.eat(b"~");
        let rest = self.rest();
        if rest.first() != Some(&b'{') {
            return None;
        }
        let close = rest.iter().position(|b| *b == b'}')?;
        let digits = std::str::from_utf8(&rest[1..close]).ok()?;
        let length: usize = digits.trim_end_matches('+').parse().ok()?;
        if rest.get(close + 1..close + 3)? != b"\r\n" {
            return None;
        }
        let end = (close + 3).checked_add(length)?;
        let data = rest.get(close + 3..end)?.to_vec();
        self.at += end;
        Some(data)
    }

    /// A quoted string, its escapes undone.
    pub(super) fn quoted(&mut self) -> Option<Vec<u8>> {
        let rest = self.rest();
        let mut out = Vec::new();
        let mut escaped = false;
        for (i, byte) in rest.iter().enumerate().skip(1) {
            match byte {
                _ if escaped => {
                    out.push(*byte);
                    escaped = false;
                }
                b'\\' => escaped = true,
                b'"' => {
                    self.at += i + 1;
                    return Some(out);
                }
                b'\r' | b'\n' => return None,
                _ => out.push(*byte),
            }
        }
        None
    }

    /// An astring: atom, quoted string or literal.
    pub(super) fn astring(&mut self) -> Option<Vec<u8>> {
        match self.rest().first()? {
            b'"' => self.quoted(),
            b'{' => self.literal(),
            _ => self.atom(),
        }
    }
}
