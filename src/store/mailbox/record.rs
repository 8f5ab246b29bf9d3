//! The stored form of a [`MessageMeta`] (the `messages` table). A folder of 10,000
//! messages is decoded whole by every SELECT, FETCH 1:* and SEARCH, and as JSON that
//! took longer than the rest of a header FETCH; so records are now a small binary
//! layout behind a version byte. Records written before it are JSON objects (their
//! first byte is `{`) and still decode: a store opens as it is, and each record moves
//! to the binary form when it is next rewritten (a flag change, a rename). A binary
//! older than this one cannot read the new records.
//!
//! Version 1, integers little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | version (1) |
//! | 4 | uid |
//! | 8 | modseq |
//! | 8 | size |
//! | 8 + 4 | internal date: seconds since the epoch, nanoseconds |
//! | 32 | body id (the SHA-256 itself, not its hex) |
//! | 2 + n×(2 + len) | flags: count, then each length and UTF-8 bytes |
//! | 1 (+ 4 + len) | Message-ID: 0 for none, else 1, length and UTF-8 bytes |

use jiff::Timestamp;

use crate::store::StoreError;
use crate::store::blobs::BlobId;
use crate::store::decode;
use crate::store::mailbox::MessageMeta;

const VERSION: u8 = 1;

impl MessageMeta {
    /// The stored bytes of this record.
    pub(crate) fn to_record(&self) -> Result<Vec<u8>, StoreError> {
        let mut out =
            Vec::with_capacity(80 + self.flags.iter().map(|f| f.len() + 2).sum::<usize>());
        out.push(VERSION);
        out.extend_from_slice(&self.uid.to_le_bytes());
        out.extend_from_slice(&self.modseq.to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.internal_date.as_second().to_le_bytes());
        out.extend_from_slice(&self.internal_date.subsec_nanosecond().to_le_bytes());
        out.extend_from_slice(&digest(&self.blob)?);
        let count = u16::try_from(self.flags.len()).map_err(|_| too_long("flag list"))?;
        out.extend_from_slice(&count.to_le_bytes());
        for flag in &self.flags {
            let len = u16::try_from(flag.len()).map_err(|_| too_long("flag"))?;
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(flag.as_bytes());
        }
        match &self.message_id {
            None => out.push(0),
            Some(id) => {
                out.push(1);
                let len = u32::try_from(id.len()).map_err(|_| too_long("Message-ID"))?;
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(id.as_bytes());
            }
        }
        Ok(out)
    }

    /// A record from its stored bytes, binary or (written by older versions) JSON.
    pub(crate) fn from_record(bytes: &[u8]) -> Result<MessageMeta, StoreError> {
        match bytes.first() {
            Some(&VERSION) => {
                let mut reader = Reader { bytes };
                reader.meta()
            }
            _ => decode(bytes),
        }
    }
}

impl MessageMeta {
    /// The size of the stored message when its record carries `keyword` (ASCII case
    /// ignored), read straight from the record: counting a mailbox's anomalies reads
    /// every record of it, and need not build each one.
    pub(crate) fn size_if_flagged(bytes: &[u8], keyword: &str) -> Result<Option<u64>, StoreError> {
        if bytes.first() != Some(&VERSION) {
            let meta = Self::from_record(bytes)?;
            let flagged = meta.flags.iter().any(|f| f.eq_ignore_ascii_case(keyword));
            return Ok(flagged.then_some(meta.size));
        }
        let mut reader = Reader { bytes };
        reader.take(1 + 4 + 8)?;
        let size = u64::from_le_bytes(reader.array()?);
        reader.take(8 + 4 + 32)?;
        let count = u16::from_le_bytes(reader.array()?);
        for _ in 0..count {
            let len = u16::from_le_bytes(reader.array()?);
            if reader
                .take(usize::from(len))?
                .eq_ignore_ascii_case(keyword.as_bytes())
            {
                return Ok(Some(size));
            }
        }
        Ok(None)
    }
}

/// The 32 bytes behind a body id's hex.
fn digest(blob: &BlobId) -> Result<[u8; 32], StoreError> {
    let hex = blob.as_str().as_bytes();
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            _ => Err(StoreError::Corrupt(format!("{blob:?} is not a blob id"))),
        };
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Ok(out)
}

fn too_long(what: &str) -> StoreError {
    StoreError::Corrupt(format!("message record: {what} too long to store"))
}

/// Reads a version-1 record front to back.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn meta(&mut self) -> Result<MessageMeta, StoreError> {
        self.take(1)?;
        let uid = u32::from_le_bytes(self.array()?);
        let modseq = u64::from_le_bytes(self.array()?);
        let size = u64::from_le_bytes(self.array()?);
        let seconds = i64::from_le_bytes(self.array()?);
        let nanos = i32::from_le_bytes(self.array()?);
        let internal_date = Timestamp::new(seconds, nanos)
            .map_err(|e| StoreError::Corrupt(format!("message record: {e}")))?;
        let blob = BlobId::from_digest(&self.array()?);
        let count = u16::from_le_bytes(self.array()?);
        let mut flags = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let len = u16::from_le_bytes(self.array()?);
            flags.push(self.text(usize::from(len))?);
        }
        let message_id = match self.take(1)? {
            [0] => None,
            _ => {
                let len = u32::from_le_bytes(self.array()?);
                Some(self.text(usize::try_from(len).map_err(|_| truncated())?)?)
            }
        };
        Ok(MessageMeta {
            uid,
            blob,
            size,
            flags,
            internal_date,
            modseq,
            message_id,
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.bytes.len() < n {
            return Err(truncated());
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        self.take(N)?.try_into().map_err(|_| truncated())
    }

    fn text(&mut self, len: usize) -> Result<String, StoreError> {
        String::from_utf8(self.take(len)?.to_vec())
            .map_err(|_| StoreError::Corrupt("message record: text is not UTF-8".to_string()))
    }
}

fn truncated() -> StoreError {
    StoreError::Corrupt("message record truncated".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::encode;

    fn meta() -> MessageMeta {
        MessageMeta {
            uid: 42,
            blob: BlobId::of(b"busta di trasporto"),
            size: 123_456,
            flags: vec!["\\Seen".to_string(), "$PecRicevuta".to_string()],
            internal_date: "2026-03-02T09:00:00.123456789Z".parse().unwrap(),
            modseq: 7,
            message_id: Some("<m1@pec-a.test>".to_string()),
        }
    }

    #[test]
    fn a_record_round_trips() {
        let meta = meta();
        let bytes = meta.to_record().unwrap();
        assert_eq!(bytes[0], VERSION);
        assert_eq!(MessageMeta::from_record(&bytes).unwrap(), meta);
        let bare = MessageMeta {
            flags: Vec::new(),
            message_id: None,
            ..meta
        };
        let bytes = bare.to_record().unwrap();
        assert_eq!(MessageMeta::from_record(&bytes).unwrap(), bare);
    }

    #[test]
    fn a_json_record_of_an_older_store_still_decodes() {
        let meta = meta();
        let json = encode(&meta).unwrap();
        assert_eq!(json[0], b'{');
        assert_eq!(MessageMeta::from_record(&json).unwrap(), meta);
    }

    #[test]
    fn the_size_of_a_flagged_record_is_read_without_decoding_it() {
        let meta = meta();
        let bytes = meta.to_record().unwrap();
        let json = encode(&meta).unwrap();
        for record in [&bytes, &json] {
            assert_eq!(
                MessageMeta::size_if_flagged(record, "$pecricevuta").unwrap(),
                Some(123_456)
            );
            assert_eq!(
                MessageMeta::size_if_flagged(record, "$PecAnomalia").unwrap(),
                None
            );
        }
        // Past the flags only the Message-ID follows, which this does not read.
        let flags_end = bytes.len() - (1 + 4 + "<m1@pec-a.test>".len());
        for len in 0..flags_end {
            let result = MessageMeta::size_if_flagged(&bytes[..len], "$PecAnomalia");
            assert!(
                matches!(result, Err(StoreError::Corrupt(_) | StoreError::Record(_))),
                "at {len}"
            );
        }
    }

    #[test]
    fn a_damaged_record_is_corrupt_not_a_panic() {
        let bytes = meta().to_record().unwrap();
        for len in 0..bytes.len() {
            let result = MessageMeta::from_record(&bytes[..len]);
            assert!(
                matches!(result, Err(StoreError::Corrupt(_) | StoreError::Record(_))),
                "at {len}"
            );
        }
    }
}
