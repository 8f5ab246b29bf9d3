//! The cross-reference of a PDF (ISO 32000-2 §7.5.4–§7.5.8): where each object is,
//! read from the section `startxref` names back through every `/Prev` (incremental
//! updates), as classic `xref` tables, cross-reference streams, or both (hybrid files'
//! `/XRefStm`). The newest section's word on an object wins.

use std::collections::HashMap;
use std::collections::HashSet;

use super::stream;
use super::stream::StreamError;
use super::syntax::Cursor;
use super::syntax::Dictionary;
use super::syntax::Object;
use super::syntax::SyntaxError;

/// The most cross-reference sections (the original and its incremental updates) read.
pub const MAX_SECTIONS: usize = 64;

/// Where an object in use is.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Entry {
    /// At this byte offset of the file.
    InFile {
        /// The offset of its `n g obj`.
        offset: usize,
    },
    /// Inside an object stream.
    InStream {
        /// The object stream's object number.
        stream: u32,
        /// The object's index among the stream's objects.
        index: u32,
    },
}

/// The objects in use and the newest trailer.
#[derive(Debug)]
pub struct Xref {
    entries: HashMap<u32, Entry>,
    /// The newest trailer (or cross-reference stream) dictionary.
    pub trailer: Dictionary,
    /// How many sections were read: 1 plus the incremental updates.
    pub sections: usize,
}

/// Why the cross-reference could not be read.
#[derive(Debug, thiserror::Error)]
pub enum XrefError {
    /// Neither `xref` nor a cross-reference stream at the offset.
    #[error("no cross-reference section at byte {0}")]
    Missing(usize),
    /// A malformed entry or subsection header in an `xref` table.
    #[error("malformed cross-reference table at byte {0}")]
    Table(usize),
    /// No `trailer` dictionary after an `xref` table.
    #[error("no trailer dictionary at byte {0}")]
    Trailer(usize),
    /// The object syntax around a section is broken.
    #[error("syntax error in a cross-reference section")]
    Syntax(#[from] SyntaxError),
    /// An object there, but not `/Type /XRef` with stream data.
    #[error("not a cross-reference stream at byte {0}")]
    NotXrefStream(usize),
    /// `/W`, `/Index` or `/Size` of a cross-reference stream unusable, or its data short.
    #[error("malformed cross-reference stream at byte {0}")]
    StreamLayout(usize),
    /// The cross-reference stream's data does not decode.
    #[error("cross-reference stream data")]
    Stream(#[from] StreamError),
    /// `/Prev` or `/XRefStm` is not an offset inside the file, or sections form a loop.
    #[error("a section points outside the file or back to itself")]
    Chain,
    /// More than [`MAX_SECTIONS`] sections.
    #[error("more than {MAX_SECTIONS} cross-reference sections")]
    TooManySections,
}

impl Xref {
    /// The cross-reference whose newest section starts at byte `start` of `data`.
    pub fn read(data: &[u8], start: usize) -> Result<Xref, XrefError> {
        let mut xref = Xref {
            entries: HashMap::new(),
            trailer: Dictionary::default(),
            sections: 0,
        };
        let mut seen = HashSet::new();
        let mut next = Some(start);
        while let Some(offset) = next {
            if !seen.insert(offset) {
                return Err(XrefError::Chain);
            }
            if xref.sections == MAX_SECTIONS {
                return Err(XrefError::TooManySections);
            }
            let trailer = xref.section(data, offset)?;
            next = offset_entry(&trailer, b"Prev", data.len())?;
            if xref.sections == 0 {
                xref.trailer = trailer;
            }
            xref.sections += 1;
        }
        Ok(xref)
    }

    /// Where object `number` is, if it is in use.
    pub fn get(&self, number: u32) -> Option<Entry> {
        self.entries.get(&number).copied()
    }

    /// Reads the section at `offset` and returns its trailer dictionary.
    fn section(&mut self, data: &[u8], offset: usize) -> Result<Dictionary, XrefError> {
        let mut cursor = Cursor::new(data, offset);
        if cursor.keyword(b"xref") {
            self.table(&mut cursor)?;
            if !cursor.keyword(b"trailer") {
                return Err(XrefError::Trailer(cursor.pos()));
            }
            let Object::Dictionary(trailer) = cursor.object()? else {
                return Err(XrefError::Trailer(cursor.pos()));
            };
            if let Some(hybrid) = offset_entry(&trailer, b"XRefStm", data.len())? {
                self.stream_section(data, hybrid)?;
            }
            Ok(trailer)
        } else {
            self.stream_section(data, offset)
        }
    }

    /// The subsections of a classic table: `first count` lines, then `count` entries of
    /// `offset generation n|f` (free entries are skipped).
    fn table(&mut self, cursor: &mut Cursor<'_>) -> Result<(), XrefError> {
        while let Some(first) = cursor.unsigned() {
            let count = cursor.unsigned().ok_or(XrefError::Table(cursor.pos()))?;
            for number in first..first.saturating_add(count) {
                let offset = cursor.unsigned();
                let generation = cursor.unsigned();
                let in_use = if cursor.keyword(b"n") {
                    true
                } else if cursor.keyword(b"f") {
                    false
                } else {
                    return Err(XrefError::Table(cursor.pos()));
                };
                let (Some(offset), Some(_)) = (offset, generation) else {
                    return Err(XrefError::Table(cursor.pos()));
                };
                let number = u32::try_from(number).map_err(|_| XrefError::Table(cursor.pos()))?;
                let offset = usize::try_from(offset).map_err(|_| XrefError::Table(cursor.pos()))?;
                if in_use {
                    self.entries
                        .entry(number)
                        .or_insert(Entry::InFile { offset });
                }
            }
        }
        Ok(())
    }

    /// A cross-reference stream at `offset` (§7.5.8): its entries are added and its
    /// dictionary, which is also its trailer, returned.
    fn stream_section(&mut self, data: &[u8], offset: usize) -> Result<Dictionary, XrefError> {
        let mut cursor = Cursor::new(data, offset);
        if cursor.object_header().is_none() {
            return Err(XrefError::Missing(offset));
        }
        let Object::Dictionary(dictionary) = cursor.object()? else {
            return Err(XrefError::NotXrefStream(offset));
        };
        if dictionary.name(b"Type") != Some(b"XRef") {
            return Err(XrefError::NotXrefStream(offset));
        }
        let raw = cursor
            .stream_data(&dictionary)
            .ok_or(XrefError::NotXrefStream(offset))?;
        let decoded = stream::decode(&dictionary, raw)?;
        let layout = StreamLayout::of(&dictionary).ok_or(XrefError::StreamLayout(offset))?;
        self.stream_entries(&decoded, &layout)
            .ok_or(XrefError::StreamLayout(offset))?;
        Ok(dictionary)
    }

    /// The entries of a decoded cross-reference stream; `None` when the data is shorter
    /// than `/Index` says or a number does not fit.
    fn stream_entries(&mut self, decoded: &[u8], layout: &StreamLayout) -> Option<()> {
        let row = layout.widths.iter().sum::<usize>();
        let mut rows = decoded.chunks_exact(row);
        for &(first, count) in &layout.subsections {
            if count > decoded.len() / row {
                return None;
            }
            for number in first..first.checked_add(u32::try_from(count).ok()?)? {
                let fields = rows.next()?;
                let (kind, rest) = fields.split_at(layout.widths[0]);
                let (second, third) = rest.split_at(layout.widths[1]);
                let kind = if kind.is_empty() { 1 } else { big_endian(kind) };
                let entry = match kind {
                    1 => Entry::InFile {
                        offset: usize::try_from(big_endian(second)).ok()?,
                    },
                    2 => Entry::InStream {
                        stream: u32::try_from(big_endian(second)).ok()?,
                        index: u32::try_from(big_endian(third)).ok()?,
                    },
                    // Free (0) and unknown types are no object in use (§7.5.8.3).
                    _ => continue,
                };
                self.entries.entry(number).or_insert(entry);
            }
        }
        Some(())
    }
}

/// The field widths (`/W`) and subsections (`/Index`) of a cross-reference stream.
struct StreamLayout {
    widths: [usize; 3],
    subsections: Vec<(u32, usize)>,
}

impl StreamLayout {
    /// Widths of at most 8 bytes, not all zero; `/Index` pairs, by default `[0 /Size]`.
    fn of(dictionary: &Dictionary) -> Option<StreamLayout> {
        let Some(Object::Array(w)) = dictionary.get(b"W") else {
            return None;
        };
        let widths: Vec<usize> = w
            .iter()
            .map(|item| match item {
                Object::Integer(width @ 0..=8) => usize::try_from(*width).ok(),
                _ => None,
            })
            .collect::<Option<_>>()?;
        let widths: [usize; 3] = widths.try_into().ok()?;
        if widths.iter().sum::<usize>() == 0 {
            return None;
        }
        let index = match dictionary.get(b"Index") {
            Some(Object::Array(items)) => items.clone(),
            None => vec![Object::Integer(0), dictionary.get(b"Size")?.clone()],
            Some(_) => return None,
        };
        let subsections = index
            .chunks(2)
            .map(|pair| match pair {
                [Object::Integer(first), Object::Integer(count)] => {
                    Some((u32::try_from(*first).ok()?, usize::try_from(*count).ok()?))
                }
                _ => None,
            })
            .collect::<Option<_>>()?;
        Some(StreamLayout {
            widths,
            subsections,
        })
    }
}

/// The value of `key` as an offset inside a file of `len` bytes, if the key is there.
fn offset_entry(
    dictionary: &Dictionary,
    key: &[u8],
    len: usize,
) -> Result<Option<usize>, XrefError> {
    match dictionary.get(key) {
        None => Ok(None),
        Some(Object::Integer(offset)) => usize::try_from(*offset)
            .ok()
            .filter(|&offset| offset < len)
            .map(Some)
            .ok_or(XrefError::Chain),
        Some(_) => Err(XrefError::Chain),
    }
}

/// A big-endian unsigned number of at most 8 bytes.
fn big_endian(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}
