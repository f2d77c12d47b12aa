//! The SQLite backend: one file in WAL mode, migrations from `migrations/sqlite`.
//!
//! Two pools over the file: one connection for every write (so writers queue in-process
//! instead of fighting over SQLite's lock), and a few for reads, which WAL lets run beside the
//! writer. An in-memory database (`sqlite::memory:`) gets one connection for both. Write
//! transactions begin IMMEDIATE, so a second process on the same file waits its turn (busy
//! timeout) rather than failing. Planner statistics are refreshed by `PRAGMA optimize` at
//! open and every few thousand batches; nothing needs to be called from outside.
//!
//! The write connection's worker thread is named [`WRITER_THREAD_NAME`] and the connection
//! is kept open for the life of the pool (no idle timeout or lifetime), so that a server can
//! find that one thread and give it a lower priority than the threads that serve requests.
//!
//! - `logs`: `LogSink` and `LogQuery`.
//! - `GatewayStore`, `KeyStore` and `TokenStore`: the code both backends share
//!   ([`crate::gateways`], [`crate::keys`], [`crate::tokens`]).

mod logs;

crate::gateways::impl_gateway_store!(SqliteStore, D, bind_args, read: read, write: write);
crate::keys::impl_key_store!(SqliteStore, D, bind_args, read: read, write: write);
crate::tokens::impl_token_store!(SqliteStore, D, read: read, write: write);

use crate::plan::GatewayKeys;
use crate::sql::{Arg, Dialect};
use crate::StoreError;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqlitePool};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub(crate) const D: Dialect = Dialect::Sqlite;

/// The name of the write connection's worker thread (at most 15 bytes: Linux keeps no more).
pub const WRITER_THREAD_NAME: &str = "sqlite-writer";

/// Pools over one SQLite database file.
#[derive(Clone)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    gkeys: Arc<GatewayKeys>,
    /// Batches written, to refresh planner statistics now and then.
    batches: Arc<AtomicU64>,
}

/// Every this many batches, `PRAGMA optimize` (re-analyses tables that changed a lot).
const OPTIMIZE_EVERY: u64 = 2_000;

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://PATH` or `sqlite::memory:`)
    /// and applies the migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            // 4 MiB of page cache for the writer: appends touch only the right edge of each
            // index, and reads of colder pages come from the OS page cache.
            .pragma("cache_size", "-4096")
            .pragma("temp_store", "memory")
            // Planner statistics from a sample, so `PRAGMA optimize` stays quick at any size.
            .pragma("analysis_limit", "1000");
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            owner_only(opts.get_filename())?;
        }
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts.clone().thread_name(|_| WRITER_THREAD_NAME.to_owned()))
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        sqlx::query("PRAGMA optimize=0x10002")
            .execute(&write)
            .await?;
        let read = if in_memory {
            write.clone()
        } else {
            // Readers get 2 MiB each: a control-plane query that scans many pages reads them
            // from the OS page cache, instead of each connection keeping its own copy.
            SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(opts.pragma("cache_size", "-2048"))
                .await?
        };
        Ok(Self {
            read,
            write,
            gkeys: Arc::new(GatewayKeys::default()),
            batches: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Refreshes the query planner's statistics (`PRAGMA optimize`) every
    /// [`OPTIMIZE_EVERY`] batches; cheap when nothing changed much.
    pub(crate) async fn after_batch(&self) -> Result<(), StoreError> {
        if self.batches.fetch_add(1, Ordering::Relaxed) % OPTIMIZE_EVERY == OPTIMIZE_EVERY - 1 {
            sqlx::query("PRAGMA optimize").execute(&self.write).await?;
        }
        Ok(())
    }

    /// A write transaction that takes SQLite's write lock at once (`BEGIN IMMEDIATE`), so
    /// that a second process writing the same file waits (busy timeout) instead of failing
    /// when a read transaction cannot be upgraded.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, Sqlite>, StoreError> {
        Ok(self.write.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// The pool for reads (for tests and tools such as EXPLAIN QUERY PLAN).
    pub fn read_pool(&self) -> &SqlitePool {
        &self.read
    }

    /// The single-connection pool every write goes through.
    pub(crate) fn write_pool(&self) -> &SqlitePool {
        &self.write
    }
}

type Query<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

/// Binds `args` in order.
pub(crate) fn bind_args<'q>(mut q: Query<'q>, args: &'q [Arg]) -> Query<'q> {
    for a in args {
        q = match a {
            Arg::Int(i) => q.bind(*i),
            Arg::OptInt(i) => q.bind(*i),
            Arg::Real(f) => q.bind(*f),
            Arg::Text(s) => q.bind(s.as_str()),
            Arg::Bool(b) => q.bind(*b),
            Arg::Bytes(b) => q.bind(b.as_slice()),
        };
    }
    q
}

/// Creates the database file readable by its owner only, if it does not exist yet: it holds
/// every stored request and response. SQLite gives its `-wal` and `-shm` files the same mode.
fn owner_only(path: &std::path::Path) -> Result<(), StoreError> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    match open.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Database(sqlx::Error::Io(e))),
    }
}
