//! A cache of message header blocks by body id, so that FETCH of header fields and
//! ENVELOPE for a whole folder reads a few KiB per message from redb (checksummed)
//! instead of reading and re-hashing every body. Filled on first use; a body's header
//! never changes, since bodies are immutable and named by their hash.

use redb::TableDefinition;

use crate::store::ReadTx;
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::blobs::BlobId;
use crate::store::db;

const HEADERS: TableDefinition<&str, &[u8]> = TableDefinition::new("header_cache");

impl ReadTx<'_> {
    /// The cached header block of each body, in order (`None` when not cached yet).
    pub fn cached_headers(&self, blobs: &[&BlobId]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let table = match self.inner.open_table(HEADERS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(vec![None; blobs.len()]),
            Err(error) => return Err(db(error)),
        };
        blobs
            .iter()
            .map(|blob| {
                Ok(table
                    .get(blob.as_str())
                    .map_err(db)?
                    .map(|bytes| bytes.value().to_vec()))
            })
            .collect()
    }
}

impl Tx<'_> {
    /// Caches a body's header block.
    pub fn cache_header(&mut self, blob: &BlobId, header: &[u8]) -> Result<(), StoreError> {
        self.inner
            .open_table(HEADERS)
            .map_err(db)?
            .insert(blob.as_str(), header)
            .map_err(db)?;
        Ok(())
    }
}
