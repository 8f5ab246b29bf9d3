//! The key-value layer under the store's handles. A handle reads and writes its tables
//! through [`Table`] and [`Multimap`], whatever engine holds them: the handles name a
//! table's operations (get, insert, remove, ranges in key order) and never an engine's.
//!
//! Tables are defined with redb's definitions, whose key and value types are also the
//! codec: a value is stored as the bytes [`redb::Value::as_bytes`] gives. Keys are
//! [`OrderedKey`]s, which also have an encoding whose byte order is the key order, for
//! engines that compare keys as bytes.

use std::borrow::Borrow;
use std::marker::PhantomData;
use std::ops::Bound;
use std::ops::RangeBounds;
use std::sync::Arc;

use redb::Key;
use redb::MultimapTableDefinition;
use redb::MultimapTableHandle;
use redb::ReadableMultimapTable;
use redb::ReadableTable;
use redb::ReadableTableMetadata;
use redb::TableDefinition;
use redb::TableHandle;
use redb::Value;

use super::ReadTx;
use super::StoreError;
use super::db;

mod ordered;
pub(crate) mod pg;

pub(crate) use ordered::OrderedKey;

/// A write transaction of either engine.
#[derive(Clone, Copy)]
pub(crate) enum Writing<'a> {
    Embedded(&'a redb::WriteTransaction),
    Cluster(&'a pg::Txn),
}

/// A snapshot of either engine.
#[derive(Clone, Copy)]
pub(crate) enum Reading<'a> {
    Embedded(&'a redb::ReadTransaction),
    Cluster(&'a pg::Txn),
}

/// Where snapshots are read: cheap to clone, shared by the store and its bodies.
#[derive(Clone)]
pub(crate) enum Snapshots {
    Embedded(Arc<dyn redb::ReadableDatabase + Send + Sync>),
    Cluster(pg::Pool),
}

impl Snapshots {
    /// Runs `work` on a consistent snapshot of every table.
    pub(crate) fn read<T>(
        &self,
        work: impl FnOnce(&ReadTx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            Snapshots::Embedded(database) => {
                let txn = database.begin_read().map_err(db)?;
                work(&ReadTx::new(Reading::Embedded(&txn)))
            }
            Snapshots::Cluster(pool) => pg::off_the_runtime(|| {
                let txn = pg::Txn::read(pool)?;
                let value = work(&ReadTx::new(Reading::Cluster(&txn)))?;
                txn.commit()?;
                Ok(value)
            }),
        }
    }
}

/// A value read from a table.
pub(crate) enum Guard<'a, V: Value + 'static> {
    /// Straight from redb's pages.
    Redb(redb::AccessGuard<'a, V>),
    /// Bytes an engine handed over.
    Owned(Vec<u8>, PhantomData<V>),
}

impl<V: Value + 'static> Guard<'_, V> {
    fn owned(bytes: Vec<u8>) -> Self {
        Guard::Owned(bytes, PhantomData)
    }

    /// The value, decoded.
    pub(crate) fn value(&self) -> V::SelfType<'_> {
        match self {
            Guard::Redb(guard) => guard.value(),
            Guard::Owned(bytes, _) => V::from_bytes(bytes),
        }
    }
}

/// A key and its value.
pub(crate) type Entry<'a, K, V> = (Guard<'a, K>, Guard<'a, V>);

/// A table of a transaction: written, or read in a snapshot.
pub(crate) struct Table<'t, K: OrderedKey, V: Value + 'static>(TableIn<'t, K, V>);

enum TableIn<'t, K: OrderedKey, V: Value + 'static> {
    Written(redb::Table<'t, K, V>),
    Snapshot(redb::ReadOnlyTable<K, V>),
    /// A table a snapshot found never written.
    Empty,
    Cluster(&'t pg::Txn, String),
}

impl<'t> Writing<'t> {
    /// The table `definition` names, to read and write.
    pub(crate) fn table<K: OrderedKey, V: Value + 'static>(
        self,
        definition: TableDefinition<'static, K, V>,
    ) -> Result<Table<'t, K, V>, StoreError> {
        Ok(Table(match self {
            Writing::Embedded(txn) => TableIn::Written(txn.open_table(definition).map_err(db)?),
            Writing::Cluster(txn) => TableIn::Cluster(txn, definition.name().to_string()),
        }))
    }

    /// The multimap table `definition` names, to read and write.
    pub(crate) fn multimap<K: OrderedKey, V: OrderedKey>(
        self,
        definition: MultimapTableDefinition<'static, K, V>,
    ) -> Result<Multimap<'t, K, V>, StoreError> {
        Ok(Multimap(match self {
            Writing::Embedded(txn) => {
                MultimapIn::Written(txn.open_multimap_table(definition).map_err(db)?)
            }
            Writing::Cluster(txn) => MultimapIn::Cluster(txn, definition.name().to_string()),
        }))
    }
}

impl<'t> Reading<'t> {
    /// The table `definition` names, as the snapshot has it (empty if never written).
    pub(crate) fn table<K: OrderedKey, V: Value + 'static>(
        self,
        definition: TableDefinition<'static, K, V>,
    ) -> Result<Table<'t, K, V>, StoreError> {
        Ok(Table(match self {
            Reading::Embedded(txn) => match txn.open_table(definition) {
                Ok(table) => TableIn::Snapshot(table),
                Err(redb::TableError::TableDoesNotExist(_)) => TableIn::Empty,
                Err(error) => return Err(db(error)),
            },
            Reading::Cluster(txn) => TableIn::Cluster(txn, definition.name().to_string()),
        }))
    }

    /// The multimap table `definition` names, as the snapshot has it.
    pub(crate) fn multimap<K: OrderedKey, V: OrderedKey>(
        self,
        definition: MultimapTableDefinition<'static, K, V>,
    ) -> Result<Multimap<'t, K, V>, StoreError> {
        Ok(Multimap(match self {
            Reading::Embedded(txn) => match txn.open_multimap_table(definition) {
                Ok(table) => MultimapIn::Snapshot(table),
                Err(redb::TableError::TableDoesNotExist(_)) => MultimapIn::Empty,
                Err(error) => return Err(db(error)),
            },
            Reading::Cluster(txn) => MultimapIn::Cluster(txn, definition.name().to_string()),
        }))
    }
}

impl<K: OrderedKey, V: Value + 'static> Table<'_, K, V> {
    /// The value at `key`.
    pub(crate) fn get<'a>(
        &self,
        key: impl Borrow<K::SelfType<'a>>,
    ) -> Result<Option<Guard<'_, V>>, StoreError> {
        Ok(match &self.0 {
            TableIn::Written(table) => table.get(key).map_err(db)?.map(Guard::Redb),
            TableIn::Snapshot(table) => table.get(key).map_err(db)?.map(Guard::Redb),
            TableIn::Empty => None,
            TableIn::Cluster(txn, tbl) => {
                txn.get(tbl, &K::ordered(key.borrow()))?.map(Guard::owned)
            }
        })
    }

    /// Sets `key` to `value`.
    pub(crate) fn insert<'k, 'v>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
        value: impl Borrow<V::SelfType<'v>>,
    ) -> Result<(), StoreError> {
        match &mut self.0 {
            TableIn::Written(table) => {
                table.insert(key, value).map_err(db)?;
                Ok(())
            }
            TableIn::Cluster(txn, tbl) => txn.insert(
                tbl,
                &K::ordered(key.borrow()),
                V::as_bytes(value.borrow()).as_ref(),
            ),
            TableIn::Snapshot(_) | TableIn::Empty => Err(StoreError::ReadOnly),
        }
    }

    /// Removes `key`; its value, if it had one.
    pub(crate) fn remove<'a>(
        &mut self,
        key: impl Borrow<K::SelfType<'a>>,
    ) -> Result<Option<Guard<'_, V>>, StoreError> {
        match &mut self.0 {
            TableIn::Written(table) => Ok(table.remove(key).map_err(db)?.map(Guard::Redb)),
            TableIn::Cluster(txn, tbl) => Ok(txn
                .remove(tbl, &K::ordered(key.borrow()))?
                .map(Guard::owned)),
            TableIn::Snapshot(_) | TableIn::Empty => Err(StoreError::ReadOnly),
        }
    }

    /// Removes every entry `doomed` picks; how many went.
    pub(crate) fn remove_where(
        &mut self,
        mut doomed: impl for<'f> FnMut(K::SelfType<'f>, V::SelfType<'f>) -> bool,
    ) -> Result<usize, StoreError> {
        match &mut self.0 {
            TableIn::Written(table) => {
                let mut removed = 0;
                for entry in table.extract_if(|k, v| doomed(k, v)).map_err(db)? {
                    entry.map_err(db)?;
                    removed += 1;
                }
                Ok(removed)
            }
            TableIn::Cluster(txn, tbl) => {
                let mut picked = Vec::new();
                for row in pg::Pages::new(txn, tbl.clone(), Bound::Unbounded, Bound::Unbounded) {
                    let (key, value) = row?;
                    let native = K::native(&key)?;
                    if doomed(K::from_bytes(&native), V::from_bytes(&value)) {
                        picked.push(key);
                    }
                }
                for key in &picked {
                    txn.remove(tbl, key)?;
                }
                Ok(picked.len())
            }
            TableIn::Snapshot(_) | TableIn::Empty => Err(StoreError::ReadOnly),
        }
    }

    /// Every entry, in key order.
    pub(crate) fn iter(&self) -> Result<Entries<'_, K, V>, StoreError> {
        self.range::<K::SelfType<'_>>(..)
    }

    /// The entries whose keys are in `range`, in key order.
    pub(crate) fn range<'a, KR>(
        &self,
        range: impl RangeBounds<KR> + 'a,
    ) -> Result<Entries<'_, K, V>, StoreError>
    where
        KR: Borrow<K::SelfType<'a>> + 'a,
    {
        let entries = match &self.0 {
            TableIn::Written(table) => EntriesIn::Redb(table.range(range).map_err(db)?),
            TableIn::Snapshot(table) => EntriesIn::Redb(table.range(range).map_err(db)?),
            TableIn::Empty => EntriesIn::Empty,
            TableIn::Cluster(txn, tbl) => {
                let ordered = |bound: Bound<&KR>| bound.map(|key| K::ordered(key.borrow()));
                let (lower, upper) = (ordered(range.start_bound()), ordered(range.end_bound()));
                EntriesIn::Cluster(pg::Pages::new(txn, tbl.clone(), lower, upper), PhantomData)
            }
        };
        Ok(Entries(entries))
    }

    /// The entry with the smallest key.
    pub(crate) fn first(&self) -> Result<Option<Entry<'_, K, V>>, StoreError> {
        self.iter()?.next().transpose()
    }

    /// The entry with the largest key.
    pub(crate) fn last(&self) -> Result<Option<Entry<'_, K, V>>, StoreError> {
        let last = match &self.0 {
            TableIn::Written(table) => table.last().map_err(db)?,
            TableIn::Snapshot(table) => table.last().map_err(db)?,
            TableIn::Empty => None,
            TableIn::Cluster(txn, tbl) => {
                return txn.last(tbl)?.map(cluster_entry::<K, V>).transpose();
            }
        };
        Ok(last.map(|(key, value)| (Guard::Redb(key), Guard::Redb(value))))
    }

    /// How many entries the table holds.
    pub(crate) fn len(&self) -> Result<u64, StoreError> {
        match &self.0 {
            TableIn::Written(table) => table.len().map_err(db),
            TableIn::Snapshot(table) => table.len().map_err(db),
            TableIn::Empty => Ok(0),
            TableIn::Cluster(txn, tbl) => txn.len(tbl),
        }
    }
}

/// Entries of a [`Table`] in key order.
pub(crate) struct Entries<'a, K: OrderedKey, V: Value + 'static>(EntriesIn<'a, K, V>);

enum EntriesIn<'a, K: OrderedKey, V: Value + 'static> {
    Redb(redb::Range<'a, K, V>),
    Empty,
    Cluster(pg::Pages<'a>, PhantomData<(K, V)>),
}

fn redb_entry<'a, K: Key + 'static, V: Value + 'static>(
    entry: Result<(redb::AccessGuard<'a, K>, redb::AccessGuard<'a, V>), redb::StorageError>,
) -> Result<Entry<'a, K, V>, StoreError> {
    let (key, value) = entry.map_err(db)?;
    Ok((Guard::Redb(key), Guard::Redb(value)))
}

/// A row of the cluster engine as an entry: its key back in redb's encoding.
fn cluster_entry<'a, K: OrderedKey, V: Value + 'static>(
    (key, value): (Vec<u8>, Vec<u8>),
) -> Result<Entry<'a, K, V>, StoreError> {
    Ok((Guard::owned(K::native(&key)?), Guard::owned(value)))
}

impl<'a, K: OrderedKey, V: Value + 'static> Iterator for Entries<'a, K, V> {
    type Item = Result<Entry<'a, K, V>, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            EntriesIn::Redb(range) => range.next().map(redb_entry),
            EntriesIn::Empty => None,
            EntriesIn::Cluster(pages, _) => pages.next().map(|row| cluster_entry(row?)),
        }
    }
}

/// A table holding a set of values under each key.
pub(crate) struct Multimap<'t, K: OrderedKey, V: OrderedKey>(MultimapIn<'t, K, V>);

enum MultimapIn<'t, K: OrderedKey, V: OrderedKey> {
    Written(redb::MultimapTable<'t, K, V>),
    Snapshot(redb::ReadOnlyMultimapTable<K, V>),
    Empty,
    Cluster(&'t pg::Txn, String),
}

impl<K: OrderedKey, V: OrderedKey> Multimap<'_, K, V> {
    /// The values under `key`, in order.
    pub(crate) fn get<'a>(
        &self,
        key: impl Borrow<K::SelfType<'a>>,
    ) -> Result<Vec<Guard<'_, V>>, StoreError> {
        let values = match &self.0 {
            MultimapIn::Written(table) => table.get(key).map_err(db)?,
            MultimapIn::Snapshot(table) => table.get(key).map_err(db)?,
            MultimapIn::Empty => return Ok(Vec::new()),
            MultimapIn::Cluster(txn, tbl) => {
                return txn
                    .values(tbl, &K::ordered(key.borrow()))?
                    .iter()
                    .map(|value| Ok(Guard::owned(V::native(value)?)))
                    .collect();
            }
        };
        values
            .map(|value| Ok(Guard::Redb(value.map_err(db)?)))
            .collect()
    }

    /// Adds `value` under `key`.
    pub(crate) fn insert<'k, 'v>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
        value: impl Borrow<V::SelfType<'v>>,
    ) -> Result<(), StoreError> {
        match &mut self.0 {
            MultimapIn::Written(table) => {
                table.insert(key, value).map_err(db)?;
                Ok(())
            }
            MultimapIn::Cluster(txn, tbl) => {
                txn.add(tbl, &K::ordered(key.borrow()), &V::ordered(value.borrow()))
            }
            MultimapIn::Snapshot(_) | MultimapIn::Empty => Err(StoreError::ReadOnly),
        }
    }

    /// Removes `value` from under `key`.
    pub(crate) fn remove<'k, 'v>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
        value: impl Borrow<V::SelfType<'v>>,
    ) -> Result<(), StoreError> {
        match &mut self.0 {
            MultimapIn::Written(table) => {
                table.remove(key, value).map_err(db)?;
                Ok(())
            }
            MultimapIn::Cluster(txn, tbl) => {
                txn.take(tbl, &K::ordered(key.borrow()), &V::ordered(value.borrow()))
            }
            MultimapIn::Snapshot(_) | MultimapIn::Empty => Err(StoreError::ReadOnly),
        }
    }
}
