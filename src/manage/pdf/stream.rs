//! The stream filters a PDF's structure uses (ISO 32000-2 §7.4): FlateDecode with the
//! PNG predictors, for cross-reference streams and object streams. Content streams
//! (text, images) are never decoded: the check does not need them.
//!
//! Every decode stops at a byte limit, so a small compressed stream cannot expand into
//! memory the server does not have (a decompression bomb).

use std::io::Read;

use super::syntax::Dictionary;
use super::syntax::Object;

/// The most bytes any one structural stream decodes to.
pub const MAX_DECODED_BYTES: u64 = 16 << 20;

/// The widest row a PNG predictor may declare (`/Columns`), in bytes.
const MAX_COLUMNS: i64 = 4096;

/// Why a stream could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// A filter other than FlateDecode, or more than one.
    #[error("unsupported stream filter")]
    Filter,
    /// The compressed data is corrupt.
    #[error("corrupt compressed data")]
    Inflate(#[source] std::io::Error),
    /// The data decodes to more than [`MAX_DECODED_BYTES`].
    #[error("the stream decodes to more than {MAX_DECODED_BYTES} bytes")]
    TooLarge,
    /// A predictor other than none or PNG, or PNG parameters other than one 8-bit
    /// component per column.
    #[error("unsupported predictor")]
    Predictor,
    /// The predicted data does not fill whole rows, or a row's PNG filter type is unknown.
    #[error("malformed predictor rows")]
    Rows,
}

/// The decoded data of a stream whose dictionary is `dictionary` and raw data `raw`.
pub fn decode(dictionary: &Dictionary, raw: &[u8]) -> Result<Vec<u8>, StreamError> {
    let filtered = match dictionary.get(b"Filter") {
        None => raw.to_vec(),
        Some(filter) if is_flate(filter) => inflate(raw)?,
        Some(_) => return Err(StreamError::Filter),
    };
    let parameters = match dictionary.get(b"DecodeParms") {
        Some(Object::Dictionary(parameters)) => Some(parameters),
        Some(Object::Array(items)) => match items.as_slice() {
            [Object::Dictionary(parameters)] => Some(parameters),
            _ => None,
        },
        _ => None,
    };
    let Some(parameters) = parameters else {
        return Ok(filtered);
    };
    match parameters.integer(b"Predictor").unwrap_or(1) {
        1 => Ok(filtered),
        10..=15 => unpredict_png(&filtered, png_columns(parameters)?),
        _ => Err(StreamError::Predictor),
    }
}

/// Whether `filter` is `/FlateDecode`, alone or as the only filter of an array.
fn is_flate(filter: &Object) -> bool {
    match filter {
        Object::Name(name) => name == b"FlateDecode",
        Object::Array(items) => {
            matches!(items.as_slice(), [Object::Name(name)] if name == b"FlateDecode")
        }
        _ => false,
    }
}

/// zlib-inflated `raw`, at most [`MAX_DECODED_BYTES`] of it.
fn inflate(raw: &[u8]) -> Result<Vec<u8>, StreamError> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(raw)
        .take(MAX_DECODED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(StreamError::Inflate)?;
    if out.len() as u64 > MAX_DECODED_BYTES {
        return Err(StreamError::TooLarge);
    }
    Ok(out)
}

/// The row width of PNG prediction: `/Columns` bytes, with one 8-bit colour component
/// per column (what cross-reference and object streams use).
fn png_columns(parameters: &Dictionary) -> Result<usize, StreamError> {
    let colors = parameters.integer(b"Colors").unwrap_or(1);
    let bits = parameters.integer(b"BitsPerComponent").unwrap_or(8);
    let columns = parameters.integer(b"Columns").unwrap_or(1);
    if colors != 1 || bits != 8 || !(1..=MAX_COLUMNS).contains(&columns) {
        return Err(StreamError::Predictor);
    }
    usize::try_from(columns).map_err(|_| StreamError::Predictor)
}

/// The rows of `data` with their PNG filters undone (RFC 2083 §6): each row is a
/// filter-type byte and `columns` bytes predicted from the byte to the left and the
/// row above.
fn unpredict_png(data: &[u8], columns: usize) -> Result<Vec<u8>, StreamError> {
    let stride = columns + 1;
    if !data.len().is_multiple_of(stride) {
        return Err(StreamError::Rows);
    }
    let mut out = Vec::with_capacity(data.len() / stride * columns);
    let mut above = vec![0u8; columns];
    for row in data.chunks_exact(stride) {
        let (&kind, bytes) = row.split_first().ok_or(StreamError::Rows)?;
        let mut current = vec![0u8; columns];
        for (i, &byte) in bytes.iter().enumerate() {
            let left = if i > 0 { current[i - 1] } else { 0 };
            let up = above[i];
            let up_left = if i > 0 { above[i - 1] } else { 0 };
            let prediction = match kind {
                0 => 0,
                1 => left,
                2 => up,
                3 => ((u16::from(left) + u16::from(up)) / 2) as u8,
                4 => paeth(left, up, up_left),
                _ => return Err(StreamError::Rows),
            };
            current[i] = byte.wrapping_add(prediction);
        }
        out.extend_from_slice(&current);
        above = current;
    }
    Ok(out)
}

/// The Paeth predictor: of left, up and up-left, the one closest to left + up − up-left.
pub fn paeth(left: u8, up: u8, up_left: u8) -> u8 {
    let estimate = i16::from(left) + i16::from(up) - i16::from(up_left);
    let distance = |value: u8| (estimate - i16::from(value)).abs();
    if distance(left) <= distance(up) && distance(left) <= distance(up_left) {
        left
    } else if distance(up) <= distance(up_left) {
        up
    } else {
        up_left
    }
}
