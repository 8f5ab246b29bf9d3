//! The PDF object syntax (ISO 32000-2 §7.2 lexical conventions, §7.3 objects), read
//! from a position in the file: enough to read cross-reference sections, trailers and
//! the few dictionaries [`super::check`] follows. Strings and numbers are recognised
//! but their values kept only where the check needs them.
//!
//! Every read is bounded by the input and nesting by [`MAX_DEPTH`], so hostile bytes
//! end in an error, never a panic or an exhausted stack.

/// The deepest nesting of arrays and dictionaries read; real files stay far below.
pub const MAX_DEPTH: usize = 32;

/// An object number and generation (§7.3.10).
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub struct ObjectId {
    /// The object number.
    pub number: u32,
    /// The generation number.
    pub generation: u16,
}

/// A PDF object as the check needs it.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    /// `null`.
    Null,
    /// `true` or `false`.
    Boolean(bool),
    /// An integer.
    Integer(i64),
    /// A real number (its value is never needed).
    Real,
    /// A name, its `#xx` escapes decoded, without the `/`.
    Name(Vec<u8>),
    /// A literal or hexadecimal string (its value is never needed).
    String,
    /// An array.
    Array(Vec<Object>),
    /// A dictionary.
    Dictionary(Dictionary),
    /// An indirect reference `n g R`.
    Reference(ObjectId),
}

/// A dictionary's entries in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dictionary(Vec<(Vec<u8>, Object)>);

/// Why the bytes at a position are not a PDF object.
#[derive(Debug, thiserror::Error)]
pub enum SyntaxError {
    /// The input ends inside an object.
    #[error("the file ends inside an object at byte {0}")]
    End(usize),
    /// A byte no object starts or continues with.
    #[error("unexpected byte at {0}")]
    Unexpected(usize),
    /// Arrays or dictionaries nested deeper than [`MAX_DEPTH`].
    #[error("objects nested deeper than {MAX_DEPTH} at byte {0}")]
    TooDeep(usize),
    /// An integer that does not fit 64 bits.
    #[error("integer out of range at byte {0}")]
    Number(usize),
}

/// A read position in the file.
#[derive(Clone, Debug)]
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Dictionary {
    /// The value of `key` (a name without its `/`).
    pub fn get(&self, key: &[u8]) -> Option<&Object> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| value)
    }

    /// The value of `key` when it is an integer.
    pub fn integer(&self, key: &[u8]) -> Option<i64> {
        match self.get(key) {
            Some(Object::Integer(value)) => Some(*value),
            _ => None,
        }
    }

    /// The value of `key` when it is a name.
    pub fn name(&self, key: &[u8]) -> Option<&[u8]> {
        match self.get(key) {
            Some(Object::Name(name)) => Some(name),
            _ => None,
        }
    }

    /// The value of `key` when it is an indirect reference.
    pub fn reference(&self, key: &[u8]) -> Option<ObjectId> {
        match self.get(key) {
            Some(Object::Reference(id)) => Some(*id),
            _ => None,
        }
    }
}

impl<'a> Cursor<'a> {
    /// A cursor at byte `pos` of `data` (at its end when `pos` is past it).
    pub fn new(data: &'a [u8], pos: usize) -> Cursor<'a> {
        Cursor {
            data,
            pos: pos.min(data.len()),
        }
    }

    /// The current position.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Skips white-space characters (§7.2.3), not comments.
    pub fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(is_whitespace) {
            self.pos += 1;
        }
    }

    /// Skips white space and comments.
    pub fn skip_blanks(&mut self) {
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'%') {
                return;
            }
            while self.peek().is_some_and(|b| b != b'\r' && b != b'\n') {
                self.pos += 1;
            }
        }
    }

    /// After blanks, consumes `word` when it stands there as a whole token.
    pub fn keyword(&mut self, word: &[u8]) -> bool {
        self.skip_blanks();
        let rest = &self.data[self.pos..];
        let whole = rest.starts_with(word)
            && rest
                .get(word.len())
                .is_none_or(|&b| is_whitespace(b) || is_delimiter(b));
        if whole {
            self.pos += word.len();
        }
        whole
    }

    /// After blanks, an unsigned integer of at most 18 digits; nothing is consumed when
    /// there is none.
    pub fn unsigned(&mut self) -> Option<u64> {
        let start = self.pos;
        self.skip_blanks();
        let digits = self.data[self.pos..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let followed_well = self.data[self.pos + digits..]
            .first()
            .is_none_or(|&b| is_whitespace(b) || is_delimiter(b));
        if digits == 0 || digits > 18 || !followed_well {
            self.pos = start;
            return None;
        }
        let value = self.data[self.pos..self.pos + digits]
            .iter()
            .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
        self.pos += digits;
        Some(value)
    }

    /// After blanks, the header `n g obj` of an indirect object; nothing is consumed
    /// when there is none.
    pub fn object_header(&mut self) -> Option<ObjectId> {
        let start = self.pos;
        let id = self.unsigned().zip(self.unsigned()).and_then(|(n, g)| {
            let number = u32::try_from(n).ok()?;
            let generation = u16::try_from(g).ok()?;
            self.keyword(b"obj")
                .then_some(ObjectId { number, generation })
        });
        if id.is_none() {
            self.pos = start;
        }
        id
    }

    /// The object that starts after blanks.
    pub fn object(&mut self) -> Result<Object, SyntaxError> {
        self.object_at_depth(0)
    }

    fn object_at_depth(&mut self, depth: usize) -> Result<Object, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(SyntaxError::TooDeep(self.pos));
        }
        self.skip_blanks();
        let start = self.pos;
        let first = self.peek().ok_or(SyntaxError::End(start))?;
        let second = self.data.get(start + 1).copied();
        match (first, second) {
            (b'<', Some(b'<')) => self.dictionary(depth).map(Object::Dictionary),
            (b'<', _) => self.hex_string(),
            (b'(', _) => self.literal_string(),
            (b'[', _) => self.array(depth),
            (b'/', _) => self.name().map(Object::Name),
            (b'0'..=b'9' | b'+' | b'-' | b'.', _) => self.number_or_reference(),
            _ => self.word(),
        }
    }

    /// A dictionary `<< /Key value … >>`; the cursor is on its `<<`.
    fn dictionary(&mut self, depth: usize) -> Result<Dictionary, SyntaxError> {
        self.pos += 2;
        let mut entries = Vec::new();
        loop {
            self.skip_blanks();
            match (self.peek(), self.data.get(self.pos + 1)) {
                (Some(b'>'), Some(b'>')) => {
                    self.pos += 2;
                    return Ok(Dictionary(entries));
                }
                (Some(b'/'), _) => {
                    let key = self.name()?;
                    let value = self.object_at_depth(depth + 1)?;
                    entries.push((key, value));
                }
                (Some(_), _) => return Err(SyntaxError::Unexpected(self.pos)),
                (None, _) => return Err(SyntaxError::End(self.pos)),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Object, SyntaxError> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_blanks();
            match self.peek() {
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Object::Array(items));
                }
                Some(_) => items.push(self.object_at_depth(depth + 1)?),
                None => return Err(SyntaxError::End(self.pos)),
            }
        }
    }

    /// A name; the cursor is on its `/`.
    fn name(&mut self) -> Result<Vec<u8>, SyntaxError> {
        self.pos += 1;
        let mut name = Vec::new();
        while let Some(b) = self
            .peek()
            .filter(|&b| !is_whitespace(b) && !is_delimiter(b))
        {
            let escaped = (b == b'#')
                .then(|| self.data.get(self.pos + 1..self.pos + 3))
                .flatten()
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok());
            match escaped {
                Some(byte) => {
                    name.push(byte);
                    self.pos += 3;
                }
                None => {
                    name.push(b);
                    self.pos += 1;
                }
            }
        }
        Ok(name)
    }

    /// A literal string `( … )` with balanced parentheses and `\` escapes.
    fn literal_string(&mut self) -> Result<Object, SyntaxError> {
        let start = self.pos;
        self.pos += 1;
        let mut open = 1usize;
        while open > 0 {
            let b = self.peek().ok_or(SyntaxError::End(start))?;
            match b {
                // The escaped byte is skipped below; at the very end the next read
                // finds nothing and reports the end.
                b'\\' => self.pos = (self.pos + 1).min(self.data.len() - 1),
                b'(' => open += 1,
                b')' => open -= 1,
                _ => {}
            }
            self.pos += 1;
        }
        Ok(Object::String)
    }

    /// A hexadecimal string `< … >`: hex digits and white space.
    fn hex_string(&mut self) -> Result<Object, SyntaxError> {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                Some(b'>') => {
                    self.pos += 1;
                    return Ok(Object::String);
                }
                Some(b) if b.is_ascii_hexdigit() || is_whitespace(b) => self.pos += 1,
                Some(_) => return Err(SyntaxError::Unexpected(self.pos)),
                None => return Err(SyntaxError::End(start)),
            }
        }
    }

    /// A number, or the reference `n g R` an unsigned integer starts.
    fn number_or_reference(&mut self) -> Result<Object, SyntaxError> {
        let start = self.pos;
        let mut after = self.clone();
        if let Some(id) = after.reference() {
            *self = after;
            return Ok(Object::Reference(id));
        }
        let sign = usize::from(matches!(self.peek(), Some(b'+' | b'-')));
        let body = self.data[start + sign..]
            .iter()
            .take_while(|b| b.is_ascii_digit() || **b == b'.')
            .count();
        let text = &self.data[start..start + sign + body];
        self.pos = start + sign + body;
        if body == 0 {
            return Err(SyntaxError::Unexpected(start));
        }
        if text.contains(&b'.') {
            return Ok(Object::Real);
        }
        std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
            .map(Object::Integer)
            .ok_or(SyntaxError::Number(start))
    }

    /// `n g R`, consumed only when all three are there.
    fn reference(&mut self) -> Option<ObjectId> {
        let number = u32::try_from(self.unsigned()?).ok()?;
        let generation = u16::try_from(self.unsigned()?).ok()?;
        self.keyword(b"R")
            .then_some(ObjectId { number, generation })
    }

    /// `true`, `false` or `null`.
    fn word(&mut self) -> Result<Object, SyntaxError> {
        let start = self.pos;
        if self.keyword(b"true") {
            Ok(Object::Boolean(true))
        } else if self.keyword(b"false") {
            Ok(Object::Boolean(false))
        } else if self.keyword(b"null") {
            Ok(Object::Null)
        } else {
            Err(SyntaxError::Unexpected(start))
        }
    }

    /// The stream data that follows a stream dictionary (§7.3.8): after `stream` and its
    /// end of line, `/Length` bytes when `endstream` follows them, else everything up
    /// to the next `endstream` (the length may be an indirect object, or wrong).
    pub fn stream_data(&mut self, dictionary: &Dictionary) -> Option<&'a [u8]> {
        if !self.keyword(b"stream") {
            return None;
        }
        let rest = &self.data[self.pos..];
        let eol = if rest.starts_with(b"\r\n") {
            2
        } else {
            usize::from(rest.starts_with(b"\n") || rest.starts_with(b"\r"))
        };
        let start = self.pos + eol;
        let declared = dictionary
            .integer(b"Length")
            .and_then(|length| usize::try_from(length).ok())
            .and_then(|length| start.checked_add(length))
            .filter(|&end| end <= self.data.len())
            .filter(|&end| Cursor::new(self.data, end).keyword(b"endstream"));
        let end = match declared {
            Some(end) => end,
            None => {
                let found = memchr::memmem::find(&self.data[start..], b"endstream")?;
                let data = &self.data[start..start + found];
                start + data.len() - trailing_eol(data)
            }
        };
        self.pos = end;
        Some(&self.data[start..end])
    }

    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }
}

/// The end-of-line marker's length at the end of `data`.
fn trailing_eol(data: &[u8]) -> usize {
    if data.ends_with(b"\r\n") {
        2
    } else {
        usize::from(data.ends_with(b"\n") || data.ends_with(b"\r"))
    }
}

/// The white-space characters of §7.2.3.
pub fn is_whitespace(b: u8) -> bool {
    matches!(b, b'\0' | b'\t' | b'\n' | b'\x0C' | b'\r' | b' ')
}

/// The delimiter characters of §7.2.3.
fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}
