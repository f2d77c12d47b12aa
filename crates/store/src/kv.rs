//! The shared Redis connection for the cache and the rate limiter, and the error both
//! report when Redis cannot answer (callers decide whether to fail open or closed).
//!
//! The connection is made lazily and re-made after failures, so a gateway starts and serves
//! while Redis is down; each command is bounded by a short timeout so a Redis that hangs
//! cannot stall requests. Once Redis fails to answer (a refused or lost connection, a
//! timeout), commands are not tried at all until a background probe gets a PING through
//! again ([`PROBE_EVERY`]): during an outage a request pays nothing for Redis, instead of a
//! connection attempt per command.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Time allowed for one Redis command (and for connecting).
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(250);

/// How often a Redis that stopped answering is probed.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);

/// Why a shared-state operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("redis is unavailable: {0}")]
    Unavailable(String),
    #[error("redis returned an unexpected value: {0}")]
    Corrupt(String),
}

impl From<redis::RedisError> for KvError {
    fn from(e: redis::RedisError) -> Self {
        KvError::Unavailable(e.to_string())
    }
}

/// A lazily connected, self-healing Redis connection.
#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    conn: Arc<OnceCell<ConnectionManager>>,
    /// Set when Redis stopped answering; cleared by the probe.
    down: Arc<AtomicBool>,
}

impl Redis {
    /// Checks the URL; does not connect.
    pub fn new(url: &str) -> Result<Self, KvError> {
        let client = redis::Client::open(url).map_err(|e| KvError::Unavailable(e.to_string()))?;
        Ok(Self {
            client,
            conn: Arc::new(OnceCell::new()),
            down: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Whether commands are being skipped because Redis stopped answering.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// A connection, made on first use.
    async fn conn(&self) -> Result<ConnectionManager, KvError> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(COMMAND_TIMEOUT))
                    .set_response_timeout(Some(COMMAND_TIMEOUT))
                    .set_number_of_retries(1);
                tokio::time::timeout(
                    COMMAND_TIMEOUT * 2,
                    ConnectionManager::new_with_config(self.client.clone(), config),
                )
                .await
                .map_err(|_| KvError::Unavailable("connect timed out".into()))?
                .map_err(KvError::from)
            })
            .await?;
        Ok(conn.clone())
    }

    /// Runs one command (`what` names it in errors) on the connection, within
    /// [`COMMAND_TIMEOUT`]. While Redis is down it fails at once; a failure that says Redis is
    /// unreachable marks it down and starts the probe.
    pub async fn run<T, F, Fut>(&self, what: &str, command: F) -> Result<T, KvError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if self.is_down() {
            return Err(KvError::Unavailable(format!(
                "{what} skipped: Redis is not answering (probed every {} ms)",
                PROBE_EVERY.as_millis()
            )));
        }
        match self.attempt(what, command).await {
            Ok(v) => Ok(v),
            Err((e, unreachable)) => {
                if unreachable {
                    self.mark_down(&e);
                }
                Err(e)
            }
        }
    }

    /// One try, with whether its failure means Redis is unreachable (as opposed to an error
    /// answer from a Redis that works).
    async fn attempt<T, F, Fut>(&self, what: &str, command: F) -> Result<T, (KvError, bool)>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.conn().await.map_err(|e| (e, true))?;
        match tokio::time::timeout(COMMAND_TIMEOUT, command(conn)).await {
            Err(_) => Err((KvError::Unavailable(format!("{what} timed out")), true)),
            Ok(Err(e)) => {
                let unreachable = e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
                    || e.is_unrecoverable_error();
                Err((KvError::from(e), unreachable))
            }
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// Skips Redis from now on, until the probe (started here, once) gets a PING through.
    fn mark_down(&self, why: &KvError) {
        if self.down.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!(
            error = %why,
            "Redis is not answering; skipping it (no cache, rate limits as rate_limit_fail_open says) until it does"
        );
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                if this.attempt("PING", ping).await.is_ok() {
                    this.down.store(false, Ordering::Release);
                    tracing::info!("Redis answers again");
                    return;
                }
            }
        });
    }

    /// Whether Redis answers a PING (within the command timeout).
    pub async fn ping(&self) -> Result<(), KvError> {
        self.run("PING", ping).await
    }
}

async fn ping(mut conn: ConnectionManager) -> redis::RedisResult<()> {
    redis::cmd("PING").query_async::<String>(&mut conn).await?;
    Ok(())
}
