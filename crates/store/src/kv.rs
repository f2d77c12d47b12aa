//! The shared Redis connection for the cache and the rate limiter, and the error both
//! report when Redis cannot answer (callers decide whether to fail open or closed).
//!
//! The connection is made lazily and re-made after failures, so a gateway starts and serves
//! while Redis is down; each command is bounded by a short timeout so a Redis that hangs
//! cannot stall requests. Once Redis is unreachable (a refused or lost connection, or
//! [`TIMEOUTS_TO_TRIP`] timeouts in a row), commands are not tried at all until a background
//! probe gets a PING through again ([`PROBE_EVERY`]): during an outage a request pays
//! nothing for Redis, instead of a connection attempt per command. The probe, and so the
//! connection it re-makes, runs on the runtime the connection was created on (the one that
//! serves requests), whichever task saw the failure.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Time allowed for one Redis command (and for connecting).
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(250);

/// How often a Redis that stopped answering is probed.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);

/// Command timeouts in a row that count as Redis being unreachable (one slow command does
/// not make a replica skip Redis for everyone).
pub const TIMEOUTS_TO_TRIP: u32 = 3;

/// Why a shared-state operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("redis is unavailable: {0}")]
    Unavailable(String),
    /// Skipped without trying: Redis stopped answering and has not answered the probe yet.
    #[error("redis is unavailable: skipped until it answers a PING again")]
    Down,
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
    health: Arc<Health>,
    /// The runtime the probe runs on.
    runtime: tokio::runtime::Handle,
}

#[derive(Default)]
struct Health {
    /// Set when Redis stopped answering; cleared by the probe.
    down: AtomicBool,
    /// Command timeouts in a row.
    timeouts: AtomicU32,
}

/// How one try failed.
enum Failure {
    /// An answer Redis gave (a script error, a wrong type): Redis itself works.
    Answered,
    Timeout,
    /// The connection there was broke (Redis may well be up: it restarted, or closed an idle
    /// connection): worth one more try, on the new connection.
    Dropped,
    /// No connection could be made, or the retry failed too.
    Unreachable,
}

/// Whether `url` is a Redis URL the client can use (host, port, database number), without
/// connecting: the reason when it is not.
pub fn check_url(url: &str) -> Result<(), String> {
    redis::Client::open(url)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

impl Redis {
    /// Checks the URL; does not connect. Call it on the runtime that serves requests: the
    /// probe runs there.
    pub fn new(url: &str) -> Result<Self, KvError> {
        let client = redis::Client::open(url).map_err(|e| KvError::Unavailable(e.to_string()))?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| KvError::Unavailable("no async runtime to probe Redis from".into()))?;
        Ok(Self {
            client,
            conn: Arc::new(OnceCell::new()),
            health: Arc::new(Health::default()),
            runtime,
        })
    }

    /// At start: whether a Redis that answers takes this URL's credentials and database
    /// number. A refusal (a wrong password or user, a database index out of range) is a
    /// mistake in the URL that no wait mends, so it is an `Err`; a Redis that cannot be
    /// reached is an outage, `Ok` here (the gateway serves without it until it answers).
    pub async fn check_accepted(&self) -> Result<(), KvError> {
        let connect = self.client.get_multiplexed_async_connection();
        let Ok(Err(e)) = tokio::time::timeout(COMMAND_TIMEOUT * 2, connect).await else {
            return Ok(());
        };
        let outage = e.is_io_error()
            || e.is_timeout()
            || e.is_connection_refusal()
            || e.is_connection_dropped();
        if outage && e.kind() != redis::ErrorKind::AuthenticationFailed {
            return Ok(());
        }
        Err(KvError::Unavailable(e.to_string()))
    }

    /// Whether commands are being skipped because Redis stopped answering.
    pub fn is_down(&self) -> bool {
        self.health.down.load(Ordering::Acquire)
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
    /// [`COMMAND_TIMEOUT`]. While Redis is down it fails at once with [`KvError::Down`]; a
    /// failure that says Redis is unreachable marks it down and starts the probe. A command
    /// whose connection broke is sent once more on the connection made in its place before
    /// Redis counts as unreachable: after a Redis restart, the first command of each replica
    /// finds its old connection dead although Redis answers. (A rate-limit check whose reply
    /// was lost with the connection may so count one request twice: rare, and on the safe
    /// side.)
    pub async fn run<T, F, Fut>(&self, what: &str, command: F) -> Result<T, KvError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if self.is_down() {
            return Err(KvError::Down);
        }
        let outcome = match self.attempt(what, &command).await {
            Err((e, Failure::Dropped)) => {
                tracing::debug!(error = %e, "Redis connection lost; trying once more");
                // A retry that fails as well, however it fails, leaves Redis unreachable.
                self.attempt(what, &command)
                    .await
                    .map_err(|(e, failure)| match failure {
                        Failure::Answered => (e, failure),
                        _ => (e, Failure::Unreachable),
                    })
            }
            other => other,
        };
        match outcome {
            Ok(v) => {
                self.health.timeouts.store(0, Ordering::Relaxed);
                Ok(v)
            }
            Err((e, failure)) => {
                let trip = match failure {
                    Failure::Answered => false,
                    Failure::Dropped | Failure::Unreachable => true,
                    Failure::Timeout => {
                        self.health.timeouts.fetch_add(1, Ordering::Relaxed) + 1 >= TIMEOUTS_TO_TRIP
                    }
                };
                if trip {
                    self.mark_down(&e);
                }
                Err(e)
            }
        }
    }

    /// One try, and how it failed.
    async fn attempt<T, F, Fut>(&self, what: &str, command: &F) -> Result<T, (KvError, Failure)>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.conn().await.map_err(|e| (e, Failure::Unreachable))?;
        match tokio::time::timeout(COMMAND_TIMEOUT, command(conn)).await {
            Err(_) => Err((
                KvError::Unavailable(format!("{what} timed out")),
                Failure::Timeout,
            )),
            Ok(Err(e)) => {
                let failure = if e.is_timeout() {
                    Failure::Timeout
                } else if e.is_connection_refusal() {
                    Failure::Unreachable
                } else if e.is_connection_dropped() {
                    Failure::Dropped
                } else if e.is_io_error() || e.is_unrecoverable_error() {
                    Failure::Unreachable
                } else {
                    Failure::Answered
                };
                Err((KvError::from(e), failure))
            }
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// Skips Redis from now on, until the probe (started here, once) gets a PING through.
    fn mark_down(&self, why: &KvError) {
        if self.health.down.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!(
            error = %why,
            "Redis is not answering; until it does, the cache is skipped and rate limits \
             follow rate_limit_fail_open"
        );
        let this = self.clone();
        self.runtime.spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                if this.attempt("PING", &ping).await.is_ok() {
                    this.health.timeouts.store(0, Ordering::Relaxed);
                    this.health.down.store(false, Ordering::Release);
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
