//! A cache of message header blocks by body id, so that FETCH of header fields and
//! ENVELOPE for a whole folder reads a few KiB per message from redb (checksummed)
//! instead of reading and re-hashing every body. Filled on first use; a body's header
//! never changes, since bodies are immutable and named by their hash.

use std::iter::Peekable;

use redb::Range;
use redb::TableDefinition;

use crate::store::ReadTx;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::blobs::BlobId;
use crate::store::db;

const HEADERS: TableDefinition<&str, &[u8]> = TableDefinition::new("header_cache");

/// How many entries a lookup walks forward from the last one before it seeks afresh.
/// A folder's bodies are a large share of the cache when one mailbox dominates it; when
/// they are spread among many mailboxes' entries, a seek is cheaper than the walk.
const WALK: usize = 8;

/// The header cache: `Headers<&mut Tx>` fills it, `Headers<&ReadTx>` reads a snapshot.
pub struct Headers<T>(pub(super) T);

impl Headers<&ReadTx<'_>> {
    /// The cached header block of each body, in order (`None` when not cached yet).
    pub fn cached(&self, blobs: &[&BlobId]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut found = vec![None; blobs.len()];
        self.each_cached(blobs, |index, header| {
            if let Some(slot) = found.get_mut(index) {
                *slot = Some(header.to_vec());
            }
        })?;
        Ok(found)
    }

    /// Calls `each(index, header)` for every body of `blobs` whose header block is
    /// cached, straight from the table's pages (no copy), in the order of the ids,
    /// not of `blobs`: the ids are looked up sorted, walking the table forward from
    /// one to the next, which for a whole folder is close to one range scan instead of
    /// as many B-tree descents as messages.
    pub fn each_cached(
        &self,
        blobs: &[&BlobId],
        mut each: impl FnMut(usize, &[u8]),
    ) -> Result<(), StoreError> {
        let table = match self.0.inner.open_table(HEADERS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(error) => return Err(db(error)),
        };
        let mut order: Vec<(&str, usize)> = blobs
            .iter()
            .enumerate()
            .map(|(index, blob)| (blob.as_str(), index))
            .collect();
        order.sort_unstable();
        let mut cursor: Option<Peekable<Range<'_, &str, &[u8]>>> = None;
        let mut same: Vec<usize> = Vec::new();
        let mut at = 0;
        while let Some(&(wanted, index)) = order.get(at) {
            // The same body more than once in the folder (a COPY within it).
            same.clear();
            same.push(index);
            at += 1;
            while let Some(&(next, index)) = order.get(at)
                && next == wanted
            {
                same.push(index);
                at += 1;
            }
            let mut walked = 0;
            loop {
                let Some(entries) = cursor.as_mut().filter(|_| walked < WALK) else {
                    let entries = cursor.insert(table.range(wanted..).map_err(db)?.peekable());
                    take_if(entries, wanted, &same, &mut each)?;
                    break;
                };
                match entries.peek() {
                    None => break,
                    Some(Err(_)) => {
                        // Seek afresh; a real failure shows up there.
                        walked = WALK;
                    }
                    Some(Ok((key, _))) if key.value() < wanted => {
                        entries.next();
                        walked += 1;
                    }
                    Some(Ok(_)) => {
                        take_if(entries, wanted, &same, &mut each)?;
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Hands the next entry of `entries` to `each` for every index in `indexes` if it is
/// `wanted`'s.
fn take_if(
    entries: &mut Peekable<Range<'_, &str, &[u8]>>,
    wanted: &str,
    indexes: &[usize],
    each: &mut impl FnMut(usize, &[u8]),
) -> Result<(), StoreError> {
    let hit = match entries.peek() {
        Some(Ok((key, _))) => key.value() == wanted,
        Some(Err(_)) => true,
        None => false,
    };
    if hit && let Some(entry) = entries.next() {
        let (_, value) = entry.map_err(db)?;
        for &index in indexes {
            each(index, value.value());
        }
    }
    Ok(())
}

impl Headers<&mut Tx<'_>> {
    /// Caches a body's header block.
    pub fn cache(&mut self, blob: &BlobId, header: &[u8]) -> Result<(), StoreError> {
        self.0
            .inner
            .open_table(HEADERS)
            .map_err(db)?
            .insert(blob.as_str(), header)
            .map_err(db)?;
        Ok(())
    }
}
