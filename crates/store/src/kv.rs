//! The shared Redis connection for the cache and the rate limiter, and the error both
//! report when Redis cannot answer (callers decide whether to fail open or closed).
//!
//! The connection is made lazily and re-made after failures, so a gateway starts and serves
//! while Redis is down; each command is bounded by a short timeout so a Redis that hangs
//! cannot stall requests.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Time allowed for one Redis command (and for connecting).
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(250);

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
}

impl Redis {
    /// Checks the URL; does not connect.
    pub fn new(url: &str) -> Result<Self, KvError> {
        let client = redis::Client::open(url).map_err(|e| KvError::Unavailable(e.to_string()))?;
        Ok(Self {
            client,
            conn: Arc::new(OnceCell::new()),
        })
    }

    /// A connection, made on first use.
    pub async fn conn(&self) -> Result<ConnectionManager, KvError> {
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

    /// Whether Redis answers a PING (within the command timeout).
    pub async fn ping(&self) -> Result<(), KvError> {
        let mut conn = self.conn().await?;
        let _: String =
            tokio::time::timeout(COMMAND_TIMEOUT, redis::cmd("PING").query_async(&mut conn))
                .await
                .map_err(|_| KvError::Unavailable("PING timed out".into()))??;
        Ok(())
    }
}
