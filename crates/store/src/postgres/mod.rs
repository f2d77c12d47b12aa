//! The PostgreSQL backend: a pool shared by any number of replicas, migrations from
//! `migrations/postgres` (sqlx runs them under an advisory lock, so replicas may start
//! together).
//!
//! Concurrency: a batch locks the counter rows of its gateways (`FOR UPDATE`, in key order)
//! before deciding caps, so replicas writing to one gateway serialise on that row and never
//! deadlock; rollup rows are upserted in key order for the same reason.
//!
//! - `logs`: `LogSink` and `LogQuery`.
//! - `GatewayStore`, `KeyStore` and `TokenStore`: the code both backends share
//!   ([`crate::gateways`], [`crate::keys`], [`crate::tokens`]).

mod logs;

crate::gateways::impl_gateway_store!(PgStore, D, bind_args, read: pool, write: pool);
crate::keys::impl_key_store!(PgStore, D, bind_args, read: pool, write: pool);
crate::tokens::impl_token_store!(PgStore, D, read: pool, write: pool);

use crate::plan::GatewayKeys;
use crate::sql::{Arg, Dialect};
use crate::StoreError;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub(crate) const D: Dialect = Dialect::Postgres;

/// A pool over one PostgreSQL database.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    gkeys: Arc<GatewayKeys>,
}

impl PgStore {
    /// Connects to `url` (`postgres://...` or `postgresql://...`) and applies the migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let opts = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            // How long a caller waits for a connection, also while the database cannot be
            // reached (sqlx keeps trying to connect until then): the bound on a request's
            // wait before its 503 during an outage.
            .acquire_timeout(Duration::from_secs(3))
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self {
            pool,
            gkeys: Arc::new(GatewayKeys::default()),
        })
    }

    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// The pool (for tests and tools such as EXPLAIN).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

type Query<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

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
