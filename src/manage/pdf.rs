//! The check every uploaded document passes before it is stored: the bytes must be a
//! whole, readable PDF, whatever the file's name or declared type says, and within the
//! size limit.
//!
//! A PDF (ISO 32000-2 §7.5) is read the way a viewer starts reading one: the `%PDF-x.y`
//! header, the `%%EOF` marker at the end (a file cut short during the upload has
//! none), the `startxref` offset before it, the cross-reference sections it leads to,
//! the trailer's `/Root`, the document catalog and its page tree, which must hold at
//! least one page. Encrypted documents are refused: a contract the provider keeps for
//! years must open without a password.
//!
//! The parser is pecd's own and reads only the structure, so its cost is bounded by
//! the file's size; it never panics on any input (fuzz target `pdf_upload`).

use std::fmt;

use self::stream::StreamError;
use self::syntax::Cursor;
use self::syntax::Dictionary;
use self::syntax::Object;
use self::syntax::ObjectId;
use self::syntax::SyntaxError;
use self::xref::Entry;
use self::xref::Xref;
use self::xref::XrefError;

mod stream;
mod syntax;
mod xref;

/// The media type stored and served with a checked document.
pub const MEDIA_TYPE: &str = "application/pdf";

/// How far from the end of the file `%%EOF` may be (the tolerance viewers allow).
const TAIL_BYTES: usize = 1024;

/// What the check learned about a PDF it accepted.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PdfInfo {
    /// The version in the header, `1.4` for `%PDF-1.4`.
    pub version: PdfVersion,
    /// The number of pages the page tree declares.
    pub pages: u32,
    /// The cross-reference sections read: 1 plus the incremental updates.
    pub revisions: usize,
    /// The file's size in bytes.
    pub bytes: usize,
}

/// A PDF version, `major.minor`.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct PdfVersion {
    /// The digit before the dot.
    pub major: u8,
    /// The digit after the dot.
    pub minor: u8,
}

/// Why an upload is not accepted as a PDF. The message is an Italian sentence for the
/// upload form; the variant and its source say more in the log.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// No bytes at all.
    #[error("Il file è vuoto.")]
    Empty,
    /// More bytes than the limit.
    #[error("Il file è troppo grande: il limite è di {} MB.", megabytes(*max))]
    TooLarge {
        /// The file's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The file does not start with a PDF header.
    #[error("Il file non è un PDF.")]
    NotPdf,
    /// No `%%EOF` at the end: the file is cut short, or not a PDF that ends.
    #[error("Il PDF è incompleto: il file si interrompe prima della fine.")]
    Truncated,
    /// No usable `startxref` before `%%EOF`.
    #[error("Il PDF è danneggiato: manca il riferimento alla tabella degli oggetti.")]
    StartXref,
    /// The cross-reference sections cannot be read.
    #[error("Il PDF è danneggiato: la tabella degli oggetti non è leggibile.")]
    Xref(#[from] XrefError),
    /// The trailer names no document catalog (`/Root`).
    #[error("Il PDF è danneggiato: manca il catalogo del documento.")]
    NoRoot,
    /// An object the check follows cannot be read.
    #[error("Il PDF è danneggiato: l'oggetto {number} non è leggibile.")]
    Object {
        /// The object's number.
        number: u32,
        /// What is wrong with it.
        #[source]
        reason: ObjectError,
    },
    /// The catalog is not a catalog dictionary with a page tree.
    #[error("Il PDF è danneggiato: il catalogo del documento non è valido.")]
    Catalog,
    /// The page tree declares no page.
    #[error("Il PDF non contiene pagine.")]
    NoPages,
    /// The document is encrypted (`/Encrypt` in the trailer).
    #[error("Il PDF è protetto da password o cifrato: caricare una copia senza protezione.")]
    Encrypted,
}

/// Why an object the check follows cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The cross-reference has no entry in use for it.
    #[error("not in the cross-reference")]
    Missing,
    /// Its offset does not lead to its `n g obj` header.
    #[error("no object header at its offset")]
    Header,
    /// Its syntax is broken.
    #[error("syntax")]
    Syntax(#[from] SyntaxError),
    /// Its object stream is missing, not an object stream, or does not hold it.
    #[error("not found in its object stream")]
    ObjectStream,
    /// Its object stream does not decode.
    #[error("object stream data")]
    Stream(#[from] StreamError),
    /// It is not the kind of object its place requires.
    #[error("unexpected object type")]
    Type,
}

/// Checks that `bytes` are a whole, unencrypted PDF of at most `max_bytes` with at
/// least one page.
pub fn check(bytes: &[u8], max_bytes: usize) -> Result<PdfInfo, PdfError> {
    if bytes.is_empty() {
        return Err(PdfError::Empty);
    }
    if bytes.len() > max_bytes {
        return Err(PdfError::TooLarge {
            size: bytes.len(),
            max: max_bytes,
        });
    }
    let version = header(bytes)?;
    let start = start_xref(bytes)?;
    let xref = Xref::read(bytes, start)?;
    if xref.trailer.get(b"Encrypt").is_some() {
        return Err(PdfError::Encrypted);
    }
    let document = Document { data: bytes, xref };
    let pages = document.page_count()?;
    Ok(PdfInfo {
        version,
        pages,
        revisions: document.xref.sections,
        bytes: bytes.len(),
    })
}

impl fmt::Display for PdfVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The file and its cross-reference, to resolve objects with.
struct Document<'a> {
    data: &'a [u8],
    xref: Xref,
}

impl Document<'_> {
    /// The `/Count` of the page tree the catalog names, at least 1.
    fn page_count(&self) -> Result<u32, PdfError> {
        let root = self
            .xref
            .trailer
            .reference(b"Root")
            .ok_or(PdfError::NoRoot)?;
        let catalog = self.dictionary(root)?;
        if catalog.name(b"Type").is_some_and(|kind| kind != b"Catalog") {
            return Err(PdfError::Catalog);
        }
        let pages = catalog.reference(b"Pages").ok_or(PdfError::Catalog)?;
        let tree = self.dictionary(pages)?;
        let count = match tree.get(b"Count") {
            Some(Object::Integer(count)) => *count,
            Some(Object::Reference(id)) => match self.object(*id)? {
                Object::Integer(count) => count,
                _ => return Err(PdfError::NoPages),
            },
            _ => return Err(PdfError::NoPages),
        };
        u32::try_from(count)
            .ok()
            .filter(|&count| count > 0)
            .ok_or(PdfError::NoPages)
    }

    /// Object `id`, which must be a dictionary.
    fn dictionary(&self, id: ObjectId) -> Result<Dictionary, PdfError> {
        match self.object(id)? {
            Object::Dictionary(dictionary) => Ok(dictionary),
            _ => Err(object_error(id, ObjectError::Type)),
        }
    }

    /// Object `id`, from the file or from its object stream.
    fn object(&self, id: ObjectId) -> Result<Object, PdfError> {
        let found = match self.xref.get(id.number) {
            None => Err(ObjectError::Missing),
            Some(Entry::InFile { offset }) => self.object_in_file(id, offset),
            Some(Entry::InStream { stream, index }) => self.object_in_stream(id, stream, index),
        };
        found.map_err(|reason| object_error(id, reason))
    }

    /// The object whose `n g obj` is at `offset`.
    fn object_in_file(&self, id: ObjectId, offset: usize) -> Result<Object, ObjectError> {
        let mut cursor = Cursor::new(self.data, offset);
        match cursor.object_header() {
            Some(header) if header.number == id.number => Ok(cursor.object()?),
            _ => Err(ObjectError::Header),
        }
    }

    /// Object `id`, the `index`-th of object stream `stream` (§7.5.7): the stream's data
    /// starts with `/N` pairs of object number and offset (from `/First`).
    fn object_in_stream(
        &self,
        id: ObjectId,
        stream: u32,
        index: u32,
    ) -> Result<Object, ObjectError> {
        let Some(Entry::InFile { offset }) = self.xref.get(stream) else {
            return Err(ObjectError::ObjectStream);
        };
        let mut cursor = Cursor::new(self.data, offset);
        if cursor.object_header().map(|header| header.number) != Some(stream) {
            return Err(ObjectError::ObjectStream);
        }
        let Object::Dictionary(dictionary) = cursor.object()? else {
            return Err(ObjectError::ObjectStream);
        };
        let raw = cursor
            .stream_data(&dictionary)
            .ok_or(ObjectError::ObjectStream)?;
        let first = dictionary
            .integer(b"First")
            .and_then(|first| usize::try_from(first).ok());
        let count = dictionary.integer(b"N").unwrap_or(0);
        if dictionary.name(b"Type") != Some(b"ObjStm") || i64::from(index) >= count {
            return Err(ObjectError::ObjectStream);
        }
        let first = first.ok_or(ObjectError::ObjectStream)?;
        let decoded = stream::decode(&dictionary, raw)?;
        let mut pairs = Cursor::new(&decoded, 0);
        for _ in 0..index {
            pairs
                .unsigned()
                .zip(pairs.unsigned())
                .ok_or(ObjectError::ObjectStream)?;
        }
        let (number, relative) = pairs
            .unsigned()
            .zip(pairs.unsigned())
            .ok_or(ObjectError::ObjectStream)?;
        let position = usize::try_from(relative)
            .ok()
            .and_then(|relative| first.checked_add(relative))
            .filter(|&position| position < decoded.len());
        match position {
            Some(position) if number == u64::from(id.number) => {
                Ok(Cursor::new(&decoded, position).object()?)
            }
            _ => Err(ObjectError::ObjectStream),
        }
    }
}

/// The version of the `%PDF-x.y` header at the start of the file.
fn header(bytes: &[u8]) -> Result<PdfVersion, PdfError> {
    match bytes {
        [
            b'%',
            b'P',
            b'D',
            b'F',
            b'-',
            major @ b'1'..=b'9',
            b'.',
            minor @ b'0'..=b'9',
            ..,
        ] => Ok(PdfVersion {
            major: major - b'0',
            minor: minor - b'0',
        }),
        _ => Err(PdfError::NotPdf),
    }
}

/// The offset `startxref` gives: the last `%%EOF` must lie in the last [`TAIL_BYTES`]
/// with nothing but white space after it, and `startxref` and one offset inside the
/// file must come right before it.
fn start_xref(bytes: &[u8]) -> Result<usize, PdfError> {
    let tail_start = bytes.len().saturating_sub(TAIL_BYTES);
    let eof = memchr::memmem::rfind(&bytes[tail_start..], b"%%EOF")
        .map(|at| tail_start + at)
        .ok_or(PdfError::Truncated)?;
    if !bytes[eof + 5..].iter().all(|&b| syntax::is_whitespace(b)) {
        return Err(PdfError::Truncated);
    }
    let keyword = memchr::memmem::rfind(&bytes[..eof], b"startxref").ok_or(PdfError::StartXref)?;
    let mut cursor = Cursor::new(bytes, keyword + b"startxref".len());
    let offset = cursor.unsigned().ok_or(PdfError::StartXref)?;
    cursor.skip_whitespace();
    if cursor.pos() != eof {
        return Err(PdfError::StartXref);
    }
    usize::try_from(offset)
        .ok()
        .filter(|&offset| offset < keyword)
        .ok_or(PdfError::StartXref)
}

fn object_error(id: ObjectId, reason: ObjectError) -> PdfError {
    PdfError::Object {
        number: id.number,
        reason,
    }
}

/// `bytes` in megabytes for the message, with one decimal when not whole.
fn megabytes(bytes: usize) -> String {
    let tenths = bytes.saturating_mul(10) / (1 << 20);
    if tenths.is_multiple_of(10) {
        format!("{}", tenths / 10)
    } else {
        format!("{},{}", tenths / 10, tenths % 10)
    }
}

#[cfg(test)]
mod tests;
