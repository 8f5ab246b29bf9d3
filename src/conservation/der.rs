//! The few DER encodings the timestamp protocol needs (RFC 3161 over RFC 5652), written
//! and read by hand: rust-openssl has no TS API. The reader works on untrusted bytes:
//! every access is bounds-checked and returns `None`, never panics.

/// Tag of a SEQUENCE.
pub const SEQUENCE: u8 = 0x30;
/// Tag of a SET.
pub const SET: u8 = 0x31;
/// Tag of an INTEGER.
pub const INTEGER: u8 = 0x02;
/// Tag of an OCTET STRING.
pub const OCTET_STRING: u8 = 0x04;
/// Tag of an OBJECT IDENTIFIER.
pub const OID: u8 = 0x06;
/// Tag of a GeneralizedTime.
pub const GENERALIZED_TIME: u8 = 0x18;
/// Tag of a BOOLEAN.
pub const BOOLEAN: u8 = 0x01;
/// Tag of NULL.
pub const NULL: u8 = 0x05;
/// Tag of a UTF8String.
pub const UTF8_STRING: u8 = 0x0c;

/// One TLV with a definite length.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A SEQUENCE of already encoded elements.
pub fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    tlv(SEQUENCE, &parts.concat())
}

/// A SET OF, with its elements sorted as DER requires.
pub fn set_of(parts: &[&[u8]]) -> Vec<u8> {
    let mut sorted: Vec<&[u8]> = parts.to_vec();
    sorted.sort();
    tlv(SET, &sorted.concat())
}

/// An unsigned INTEGER from big-endian magnitude bytes.
pub fn unsigned(magnitude: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = magnitude.iter().copied().skip_while(|b| *b == 0).collect();
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(&trimmed);
    tlv(INTEGER, &content)
}

/// A small INTEGER.
pub fn small(value: u64) -> Vec<u8> {
    unsigned(&value.to_be_bytes())
}

/// An OBJECT IDENTIFIER from its dotted text; `None` if the text is not an OID.
pub fn oid(dotted: &str) -> Option<Vec<u8>> {
    let arcs: Vec<u64> = dotted
        .split('.')
        .map(|arc| arc.parse().ok())
        .collect::<Option<_>>()?;
    let (first, second) = (*arcs.first()?, *arcs.get(1)?);
    let mut content = Vec::new();
    push_base128(&mut content, first.checked_mul(40)?.checked_add(second)?);
    for arc in arcs.iter().skip(2) {
        push_base128(&mut content, *arc);
    }
    Some(tlv(OID, &content))
}

fn push_base128(out: &mut Vec<u8>, value: u64) {
    let mut groups = vec![(value & 0x7f) as u8];
    let mut rest = value >> 7;
    while rest > 0 {
        groups.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    out.extend(groups.iter().rev());
}

/// Context-specific constructed tag `[n]` (EXPLICIT, or IMPLICIT over a constructed type).
pub fn context(n: u8, content: &[u8]) -> Vec<u8> {
    tlv(0xa0 | n, content)
}

/// An AlgorithmIdentifier with NULL parameters.
pub fn algorithm(dotted: &str) -> Option<Vec<u8>> {
    Some(sequence(&[&oid(dotted)?, &[NULL, 0]]))
}

/// A cursor over DER elements.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

/// One element read: its tag, content, and whole encoding.
#[derive(Clone, Copy, Debug)]
pub struct Element<'a> {
    /// The tag byte.
    pub tag: u8,
    /// The content octets.
    pub content: &'a [u8],
    /// Tag, length and content.
    pub raw: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads the elements of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    /// Whether every element was read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next element, if well formed (definite lengths only, as DER demands).
    pub fn next_element(&mut self) -> Option<Element<'a>> {
        let tag = *self.rest.first()?;
        let first = *self.rest.get(1)?;
        let (len, header) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return None;
            }
            let bytes = self.rest.get(2..2 + count)?;
            let len = bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, 2 + count)
        };
        let end = header.checked_add(len)?;
        let raw = self.rest.get(..end)?;
        let content = raw.get(header..)?;
        self.rest = self.rest.get(end..)?;
        Some(Element { tag, content, raw })
    }

    /// The next element if it has `tag`; otherwise nothing is consumed.
    pub fn optional(&mut self, tag: u8) -> Option<Element<'a>> {
        if self.rest.first() == Some(&tag) {
            self.next_element()
        } else {
            None
        }
    }

    /// The next element, which must have `tag`.
    pub fn expect(&mut self, tag: u8) -> Option<Element<'a>> {
        self.optional(tag)
    }
}

impl<'a> Element<'a> {
    /// A reader over the content (for constructed types).
    pub fn children(&self) -> Reader<'a> {
        Reader::new(self.content)
    }
}

/// The dotted text of an encoded OBJECT IDENTIFIER's content.
pub fn oid_text(content: &[u8]) -> Option<String> {
    let mut arcs = Vec::new();
    let mut value: u64 = 0;
    for byte in content {
        value = value
            .checked_mul(128)?
            .checked_add(u64::from(byte & 0x7f))?;
        if byte & 0x80 == 0 {
            arcs.push(value);
            value = 0;
        }
    }
    let first = *arcs.first()?;
    let (a, b) = if first < 80 {
        (first / 40, first % 40)
    } else {
        (2, first - 80)
    };
    let mut text = format!("{a}.{b}");
    for arc in arcs.iter().skip(1) {
        text.push_str(&format!(".{arc}"));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_round_trip() {
        let encoded = oid("1.2.840.113549.1.9.16.1.4").unwrap();
        let mut reader = Reader::new(&encoded);
        let element = reader.expect(OID).unwrap();
        assert_eq!(
            oid_text(element.content).unwrap(),
            "1.2.840.113549.1.9.16.1.4"
        );
        assert!(reader.is_empty());
    }

    #[test]
    fn long_lengths_and_integers() {
        let long = tlv(OCTET_STRING, &[7u8; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let element = Reader::new(&long).next_element().unwrap();
        assert_eq!(element.content.len(), 300);
        assert_eq!(small(0), vec![2, 1, 0]);
        assert_eq!(small(128), vec![2, 2, 0, 128]);
    }

    #[test]
    fn garbage_never_panics() {
        for bytes in [
            &[][..],
            &[0x30],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x30, 0x05, 1],
        ] {
            let mut reader = Reader::new(bytes);
            while reader.next_element().is_some() {}
        }
    }
}
