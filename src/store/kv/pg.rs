//! The cluster engine: every table in PostgreSQL, shared by every node of a provider.
//!
//! All tables live in two relations, `kv (tbl, k, v)` and `kv_multimap (tbl, k, v)`,
//! keyed by the table's name and the key's ordered bytes ([`OrderedKey`]); `bytea`
//! compares byte by byte, so a range of keys is a range of rows. One relation per kind
//! rather than one per table: a new table needs no migration, and the schema the
//! repository versions stays two statements.
//!
//! A write is one `SERIALIZABLE` transaction. Two nodes that read and write the same
//! records (the next UID of a folder, the head of the event log) cannot both commit:
//! PostgreSQL fails one with a serialization failure and the store runs its closure
//! again ([`Txn::retryable`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::time::Duration;

use postgres::Client;
use postgres::NoTls;
use postgres::Statement;
use postgres::error::SqlState;
use postgres::types::ToSql;

use crate::store::StoreError;

#[cfg(test)]
pub(crate) mod server;

/// A row: a key's ordered bytes and its value's bytes.
pub(crate) type Row = (Vec<u8>, Vec<u8>);

/// Rows a range reads at a time.
const PAGE: i64 = 256;

/// The migrations, in order; the schema's version is how many have run.
const MIGRATIONS: &[&str] = &[include_str!("pg/0001_kv.sql")];

/// Runs `work`, which waits on PostgreSQL, where a task of the daemon may call it.
///
/// The client blocks its thread on a runtime of its own, which tokio forbids inside a
/// runtime's worker; most store work already runs on blocking threads, and for the rest
/// `block_in_place` lets the worker's other tasks move to another thread meanwhile.
/// The daemon's runtime is multi-threaded, the only kind where that is possible.
pub(crate) fn off_the_runtime<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// What went wrong, with the server's own words when it answered (the client's
/// `Display` says only "db error").
pub(crate) fn describe(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

/// A connection and the statements prepared on it.
pub(crate) struct Connection {
    /// Always there but while the connection is dropped.
    client: Option<Client>,
    prepared: HashMap<String, Statement>,
}

impl Connection {
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        self.client.as_mut().ok_or(StoreError::Internal(
            "a PostgreSQL connection used as it closed",
        ))
    }

    /// `sql` prepared on this connection, once per connection.
    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.prepared.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client()?.prepare(sql)?;
        self.prepared.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }
}

/// Closing a connection waits on the server, which tokio forbids on a runtime's
/// worker: the pool drops its connections wherever the store is dropped.
impl Drop for Connection {
    fn drop(&mut self) {
        let client = self.client.take();
        off_the_runtime(|| drop(client));
    }
}

/// Opens connections for the pool.
#[derive(Debug)]
pub(crate) struct Connector {
    config: postgres::Config,
    /// Whether the last connection tried was refused, or timed out.
    unreachable: Arc<AtomicBool>,
}

impl r2d2::ManageConnection for Connector {
    type Connection = Connection;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Connection, postgres::Error> {
        let client = self.config.connect(NoTls);
        self.unreachable.store(client.is_err(), Ordering::Relaxed);
        Ok(Connection {
            client: Some(client?),
            prepared: HashMap::new(),
        })
    }

    fn is_valid(&self, connection: &mut Connection) -> Result<(), postgres::Error> {
        match connection.client.as_mut() {
            Some(client) => client.simple_query("").map(|_| ()),
            None => Ok(()),
        }
    }

    fn has_broken(&self, connection: &mut Connection) -> bool {
        connection.client.as_ref().is_none_or(Client::is_closed)
    }
}

/// How long a transaction waits for a connection: for one of the node's connections
/// to come free, or for a new one.
const WAIT: Duration = Duration::from_secs(10);

/// How long it waits while the server is unreachable. The client then has its
/// temporary failure (a `4xx`) at once, instead of after a wait that each of the
/// node's writes, run one at a time, would add to the next one's. The pool keeps trying
/// to connect meanwhile, and the first connection made ends this.
const WAIT_UNREACHABLE: Duration = Duration::from_secs(1);

/// How long opening a connection may take, unless the URL says: a server that drops
/// packets must not hold a node's work for the system's TCP timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The connections of one node.
#[derive(Clone)]
pub(crate) struct Pool {
    connections: r2d2::Pool<Connector>,
    unreachable: Arc<AtomicBool>,
}

impl Pool {
    /// A connection, after at most [`WAIT`], or [`WAIT_UNREACHABLE`] while the server
    /// is unreachable.
    fn get(&self) -> Result<r2d2::PooledConnection<Connector>, StoreError> {
        let wait = if self.unreachable.load(Ordering::Relaxed) {
            WAIT_UNREACHABLE
        } else {
            WAIT
        };
        self.connections.get_timeout(wait).map_err(StoreError::Pool)
    }
}

/// The connection settings `url` names, with [`CONNECT_TIMEOUT`] unless it names one.
pub(crate) fn config(url: &str) -> Result<postgres::Config, postgres::Error> {
    let mut config: postgres::Config = url.parse()?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    Ok(config)
}

/// A pool of at most `size` connections to `url`, the schema brought up to date.
pub(crate) fn connect(url: &str, size: u32) -> Result<Pool, StoreError> {
    let config = config(url)?;
    let unreachable = Arc::new(AtomicBool::new(false));
    let connections = r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(0))
        .connection_timeout(WAIT)
        .build(Connector {
            config,
            unreachable: Arc::clone(&unreachable),
        })
        .map_err(StoreError::Pool)?;
    let pool = Pool {
        connections,
        unreachable,
    };
    migrate(pool.get()?.client()?)?;
    Ok(pool)
}

/// Runs the migrations the database has not seen, in one transaction, one node at a
/// time.
fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut txn = client.transaction()?;
    // Any constant: nodes starting together wait here for each other.
    txn.batch_execute(
        "SELECT pg_advisory_xact_lock(7065636400);
         CREATE TABLE IF NOT EXISTS pecd_schema (version integer NOT NULL);",
    )?;
    let done: i64 = txn
        .query_one("SELECT count(*) FROM pecd_schema", &[])?
        .get(0);
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(done as usize) {
        txn.batch_execute(sql)?;
        txn.execute(
            "INSERT INTO pecd_schema (version) VALUES ($1)",
            &[&(version as i32 + 1)],
        )?;
    }
    txn.commit()?;
    Ok(())
}

/// A transaction open on one pooled connection; rolled back unless committed.
pub(crate) struct Txn {
    connection: RefCell<r2d2::PooledConnection<Connector>>,
    open: std::cell::Cell<bool>,
}

impl Txn {
    /// A serializable read-write transaction.
    pub(crate) fn write(pool: &Pool) -> Result<Txn, StoreError> {
        Txn::begin(pool, "BEGIN ISOLATION LEVEL SERIALIZABLE")
    }

    /// A snapshot: every read sees the same committed state.
    pub(crate) fn read(pool: &Pool) -> Result<Txn, StoreError> {
        Txn::begin(pool, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    }

    fn begin(pool: &Pool, sql: &str) -> Result<Txn, StoreError> {
        let mut connection = pool.get()?;
        connection.client()?.batch_execute(sql)?;
        Ok(Txn {
            connection: RefCell::new(connection),
            open: std::cell::Cell::new(true),
        })
    }

    /// Makes the transaction's writes durable.
    pub(crate) fn commit(self) -> Result<(), StoreError> {
        self.open.set(false);
        self.connection
            .borrow_mut()
            .client()?
            .batch_execute("COMMIT")?;
        Ok(())
    }

    /// Whether `error` ended the transaction only because another one committed
    /// first: running it again may succeed.
    pub(crate) fn retryable(error: &StoreError) -> bool {
        let StoreError::Cluster(error) = error else {
            return false;
        };
        matches!(
            error.code(),
            Some(&SqlState::T_R_SERIALIZATION_FAILURE) | Some(&SqlState::T_R_DEADLOCK_DETECTED)
        )
    }

    fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, StoreError> {
        let mut connection = self.connection.borrow_mut();
        let statement = connection.statement(sql)?;
        Ok(connection.client()?.query(&statement, params)?)
    }

    /// The value at `key` of table `tbl`.
    pub(crate) fn get(&self, tbl: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self.query("SELECT v FROM kv WHERE tbl = $1 AND k = $2", &[&tbl, &key])?;
        Ok(rows.first().map(|row| row.get(0)))
    }

    /// Sets `key` of table `tbl` to `value`.
    pub(crate) fn insert(&self, tbl: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.query(
            "INSERT INTO kv (tbl, k, v) VALUES ($1, $2, $3) \
             ON CONFLICT (tbl, k) DO UPDATE SET v = EXCLUDED.v",
            &[&tbl, &key, &value],
        )?;
        Ok(())
    }

    /// Removes `key` of table `tbl`; the value it had.
    pub(crate) fn remove(&self, tbl: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self.query(
            "DELETE FROM kv WHERE tbl = $1 AND k = $2 RETURNING v",
            &[&tbl, &key],
        )?;
        Ok(rows.first().map(|row| row.get(0)))
    }

    /// How many keys table `tbl` holds.
    pub(crate) fn len(&self, tbl: &str) -> Result<u64, StoreError> {
        let rows = self.query("SELECT count(*) FROM kv WHERE tbl = $1", &[&tbl])?;
        let count: i64 = rows.first().map_or(0, |row| row.get(0));
        Ok(count.max(0) as u64)
    }

    /// The entry of table `tbl` with the largest key.
    pub(crate) fn last(&self, tbl: &str) -> Result<Option<Row>, StoreError> {
        let rows = self.query(
            "SELECT k, v FROM kv WHERE tbl = $1 ORDER BY k DESC LIMIT 1",
            &[&tbl],
        )?;
        Ok(rows.first().map(|row| (row.get(0), row.get(1))))
    }

    /// Up to [`PAGE`] entries of table `tbl` from `lower` below `upper`, in key order.
    fn page(
        &self,
        tbl: &str,
        lower: &Bound<Vec<u8>>,
        upper: &Bound<Vec<u8>>,
    ) -> Result<Vec<Row>, StoreError> {
        let empty = Vec::new();
        let (lower_op, lower_key) = match lower {
            Bound::Included(key) => (">=", key),
            Bound::Excluded(key) => (">", key),
            Bound::Unbounded => (">=", &empty),
        };
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&tbl, lower_key];
        let upper_clause = match upper {
            Bound::Included(key) => {
                params.push(key);
                "AND k <= $3"
            }
            Bound::Excluded(key) => {
                params.push(key);
                "AND k < $3"
            }
            Bound::Unbounded => "",
        };
        let sql = format!(
            "SELECT k, v FROM kv WHERE tbl = $1 AND k {lower_op} $2 {upper_clause} \
             ORDER BY k LIMIT {PAGE}"
        );
        let rows = self.query(&sql, &params)?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// Sends `payload` on `channel` to every listening connection once the transaction
    /// commits.
    pub(crate) fn notify(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        self.query("SELECT pg_notify($1, $2)", &[&channel, &payload])?;
        Ok(())
    }

    /// The values under `key` of multimap `tbl`, in order.
    pub(crate) fn values(&self, tbl: &str, key: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows = self.query(
            "SELECT v FROM kv_multimap WHERE tbl = $1 AND k = $2 ORDER BY v",
            &[&tbl, &key],
        )?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Adds `value` under `key` of multimap `tbl`.
    pub(crate) fn add(&self, tbl: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.query(
            "INSERT INTO kv_multimap (tbl, k, v) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&tbl, &key, &value],
        )?;
        Ok(())
    }

    /// Removes `value` from under `key` of multimap `tbl`.
    pub(crate) fn take(&self, tbl: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.query(
            "DELETE FROM kv_multimap WHERE tbl = $1 AND k = $2 AND v = $3",
            &[&tbl, &key, &value],
        )?;
        Ok(())
    }
}

impl Drop for Txn {
    fn drop(&mut self) {
        if self.open.get() {
            // A connection whose rollback fails is broken, and the pool drops it.
            if let Ok(client) = self.connection.borrow_mut().client() {
                let _ = client.batch_execute("ROLLBACK");
            }
        }
    }
}

/// The entries of a range, read a page at a time.
pub(crate) struct Pages<'t> {
    txn: &'t Txn,
    tbl: String,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    buffered: VecDeque<Row>,
    done: bool,
}

impl<'t> Pages<'t> {
    pub(crate) fn new(
        txn: &'t Txn,
        tbl: String,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
    ) -> Pages<'t> {
        Pages {
            txn,
            tbl,
            lower,
            upper,
            buffered: VecDeque::new(),
            done: false,
        }
    }
}

impl Iterator for Pages<'_> {
    type Item = Result<Row, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffered.is_empty() && !self.done {
            match self.txn.page(&self.tbl, &self.lower, &self.upper) {
                Ok(page) => {
                    self.done = page.len() < PAGE as usize;
                    if let Some((last, _)) = page.last() {
                        self.lower = Bound::Excluded(last.clone());
                    }
                    self.buffered.extend(page);
                }
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        }
        self.buffered.pop_front().map(Ok)
    }
}
