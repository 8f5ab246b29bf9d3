//! Two caches by body id, so that commands over a whole folder read a few KiB per
//! message from redb (checksummed) instead of reading and re-hashing every body:
//! the raw header blocks, for FETCH of header fields and ENVELOPE; and the header
//! index ([`HeaderIndex`]: fields decoded, `Date:`, first addresses), for SEARCH of
//! header keys, SORT and THREAD. Both are filled at delivery or APPEND where the body
//! is at hand, and on first use for older bodies; a body's header never changes,
//! since bodies are immutable and named by their hash.

use std::iter::Peekable;

use redb::TableDefinition;
use redb::Value;

use crate::mail::header_index::FirstAddress;
use crate::mail::header_index::HeaderIndex;
use crate::mail::header_index::Sent;
use crate::store::ReadTx;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::blobs::BlobId;
use crate::store::kv::Entries;
use crate::store::kv::Guard;
use crate::store::kv::Table;

const HEADERS: TableDefinition<&str, &[u8]> = TableDefinition::new("header_cache");

/// A [`HeaderIndex`] as stored: the fields, `Date:` as (seconds, day), the first
/// addresses as (field number, name, mailbox, host), and the rendered addresses. A new layout takes a new table
/// name, so an old entry is never misread (it is made again on first use).
type IndexRecord = (
    Vec<(&'static str, &'static str)>,
    Option<(i64, i64)>,
    Vec<(u8, &'static str, &'static str, &'static str)>,
    Vec<(&'static str, &'static str)>,
);

const INDEX: TableDefinition<&str, IndexRecord> = TableDefinition::new("header_index_1");

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
        let table = self.0.table(HEADERS)?;
        walk(&table, blobs, |index, guard| each(index, guard.value()))
    }

    /// Calls `each(index, header)` for every body of `blobs` that is indexed, in the
    /// order of the ids (as [`Self::each_cached`]), with the index borrowed from the
    /// table's pages.
    pub fn each_indexed(
        &self,
        blobs: &[&BlobId],
        mut each: impl FnMut(usize, &HeaderIndex<&str>),
    ) -> Result<(), StoreError> {
        let table = self.0.table(INDEX)?;
        walk(&table, blobs, |index, guard| {
            let (fields, sent, first, addresses) = guard.value();
            let mut header = HeaderIndex {
                fields,
                sent: sent.map(|(seconds, day)| Sent { seconds, day }),
                first: [None, None, None],
                addresses,
            };
            for (field, name, mailbox, host) in first {
                if let Some(slot) = header.first.get_mut(usize::from(field)) {
                    *slot = Some(FirstAddress {
                        name,
                        mailbox,
                        host,
                    });
                }
            }
            each(index, &header);
        })
    }
}

/// Calls `each(index, value)` for every id of `blobs` found in `table`, walking the
/// table forward from one id to the next in sorted order, so that a whole folder is
/// close to one range scan instead of as many B-tree descents as messages.
fn walk<V: Value + 'static>(
    table: &Table<'_, &'static str, V>,
    blobs: &[&BlobId],
    mut each: impl FnMut(usize, &Guard<'_, V>),
) -> Result<(), StoreError> {
    let mut order: Vec<(&str, usize)> = blobs
        .iter()
        .enumerate()
        .map(|(index, blob)| (blob.as_str(), index))
        .collect();
    order.sort_unstable();
    let mut cursor: Option<Peekable<Entries<'_, &str, V>>> = None;
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
                let entries = cursor.insert(table.range(wanted..)?.peekable());
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

/// Hands the next entry of `entries` to `each` for every index in `indexes` if it is
/// `wanted`'s.
fn take_if<V: Value + 'static>(
    entries: &mut Peekable<Entries<'_, &'static str, V>>,
    wanted: &str,
    indexes: &[usize],
    each: &mut impl FnMut(usize, &Guard<'_, V>),
) -> Result<(), StoreError> {
    let hit = match entries.peek() {
        Some(Ok((key, _))) => key.value() == wanted,
        Some(Err(_)) => true,
        None => false,
    };
    if hit && let Some(entry) = entries.next() {
        let (_, value) = entry?;
        for &index in indexes {
            each(index, &value);
        }
    }
    Ok(())
}

impl Headers<&mut Tx<'_>> {
    /// Caches a body's header block.
    pub fn cache(&mut self, blob: &BlobId, header: &[u8]) -> Result<(), StoreError> {
        self.0.table(HEADERS)?.insert(blob.as_str(), header)?;
        Ok(())
    }

    /// Keeps a body's header index.
    pub fn index(&mut self, blob: &BlobId, header: &HeaderIndex<String>) -> Result<(), StoreError> {
        let fields: Vec<(&str, &str)> = header
            .fields
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let rendered: Vec<(&str, &str)> = header
            .addresses
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let first: Vec<(u8, &str, &str, &str)> = (0u8..)
            .zip(&header.first)
            .filter_map(|(field, first)| {
                let first = first.as_ref()?;
                Some((
                    field,
                    first.name.as_str(),
                    first.mailbox.as_str(),
                    first.host.as_str(),
                ))
            })
            .collect();
        let sent = header.sent.map(|sent| (sent.seconds, sent.day));
        self.0
            .table(INDEX)?
            .insert(blob.as_str(), (fields, sent, first, rendered))?;
        Ok(())
    }

    /// Keeps what the caches hold of a body being filed: its header block and its
    /// header index.
    pub fn record(&mut self, blob: &BlobId, raw: &[u8]) -> Result<(), StoreError> {
        let header = crate::mail::header_index::split_header(raw).0;
        self.cache(blob, header)?;
        self.index(blob, &HeaderIndex::of(header))
    }
}
