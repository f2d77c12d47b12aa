//! `switchyard serve`: open storage, apply the config, listen, and shut down gracefully.
//!
//! On SIGTERM or SIGINT the listener stops accepting, in-flight requests and streams run on
//! for up to `shutdown_grace_secs`, then the process exits 0.

use crate::app::{router, App, Parts};
use crate::config::Config;
use crate::gateways::Gateways;
use crate::logpipe;
use crate::metrics::Metrics;
use crate::secrets::SecretBox;
use crate::upstream::Upstream;
use anyhow::Context;
use axum::extract::ConnectInfo;
use futures_util::future::Either;
use http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use switchyard_core::price::PriceTable;
use switchyard_providers::Catalog;
use switchyard_store::cache::{CacheStore, MemoryCache, RedisCache};
use switchyard_store::kv::Redis;
use switchyard_store::ratelimit::{MemoryLimiter, RateLimitStore, RedisLimiter};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// A built application and its background work.
pub struct Built {
    pub app: App,
    /// The log writer's thread; [`run`] drains its queue on shutdown.
    pub log_writer: std::thread::JoinHandle<()>,
}

/// Builds the application from a validated config: opens the store, applies the config's
/// `[[gateways]]`, and starts the log writer.
pub async fn build(config: Config) -> anyhow::Result<Built> {
    let catalog = Catalog::with_overrides(&config.providers).context("provider catalog")?;
    let store = switchyard_store::open(&config.database)
        .await
        .with_context(|| format!("opening the database {}", redact_url(&config.database)))?;
    for g in &config.gateways {
        // Written only when it differs from what is stored: starting again with the same file
        // is no settings change (with `cache_invalidate_on_update` it would make every cached
        // answer unreachable, on every replica).
        let context = || format!("storing gateway {}/{}", g.account_id, g.id);
        if let Some(stored) = store
            .get_gateway(&g.account_id, &g.id)
            .await
            .with_context(context)?
        {
            let mut unchanged = g.clone();
            unchanged.created_at.clone_from(&stored.created_at);
            unchanged.modified_at.clone_from(&stored.modified_at);
            if unchanged == stored {
                continue;
            }
        }
        store.put_gateway(g).await.with_context(context)?;
    }
    let outage = Arc::new(crate::outage::Outage::new(store.clone()));
    let gateways = Gateways::new(
        store.clone(),
        outage.clone(),
        config.auto_create_gateways,
        &config.gateways,
    );
    let prices = Arc::new(PriceTable::with_overrides(&config.prices).context("price table")?);
    let metrics = Arc::new(Metrics::new());
    let secrets = SecretBox::load(config.secret_key.as_ref(), &config.database)?;
    // A key that does not open what is stored (a key file made anew because the gateway
    // started from another directory, or another replica's `secret_key`) fails every request
    // that needs a stored key: said loudly now. (Not fatal: the keys of other gateways, or
    // the ones stored from now on, may be this key's.)
    if let Some(stored) = store
        .newest_key()
        .await
        .context("reading stored provider keys")?
    {
        if secrets.open(&stored.secret_ciphertext).is_err() {
            tracing::error!(
                key = %stored.alias,
                gateway = %format!("{}/{}", stored.account_id, stored.gateway_id),
                key_file = %crate::secrets::key_file_for(&config.database).display(),
                "the secret key does not open the newest stored provider key: requests that \
                 need it will fail; give this instance the secret_key (or key file) it was \
                 stored with"
            );
        }
    }
    let (cache, limiter): (Arc<dyn CacheStore>, Arc<dyn RateLimitStore>) = match &config.redis {
        Some(url) => {
            let redis = Redis::new(url).context("redis URL")?;
            redis.check_accepted().await.with_context(|| {
                format!(
                    "redis ({}) refused this URL's credentials or database number",
                    redact_url(url)
                )
            })?;
            // Not fatal (the gateway serves while Redis is down, probing until it answers),
            // but found at start rather than at the first request: a failed PING warns and
            // starts the probe.
            if redis.ping().await.is_err() {
                tracing::warn!(url = %redact_url(url), "Redis at this address did not answer at start");
            }
            (
                Arc::new(RedisCache::new(redis.clone())),
                Arc::new(RedisLimiter::new(redis)),
            )
        }
        None => (
            Arc::new(MemoryCache::new(config.cache_max_bytes)),
            Arc::new(MemoryLimiter::default()),
        ),
    };
    // Records the database would not take at an earlier exit are stored in the background
    // (see spill.rs).
    let spill_dir = config
        .log_spill_dir
        .clone()
        .unwrap_or_else(|| crate::spill::default_dir(&config.database));
    if let Err(e) = crate::spill::check_dir(&spill_dir) {
        tracing::warn!(
            dir = %spill_dir.display(),
            error = %e,
            "log_spill_dir cannot be written: log records the database does not take at exit would be lost"
        );
    }
    let spill_tag = crate::spill::database_tag(&config.database);
    crate::spill::replay_in_background(spill_dir.clone(), spill_tag.clone(), store.clone());
    let spinner = crate::spin::Spinner::new(config.busy_poll);
    tokio::spawn(spinner.clone().run());
    let (log_queue, log_writer) = logpipe::spawn(
        store.clone(),
        prices,
        metrics.clone(),
        cache.clone(),
        spinner.clone(),
        (spill_dir, spill_tag),
    )
    .context("starting the log writer")?;
    // The SQLite write connection's thread writes the log: background work (see sched.rs).
    crate::sched::lower_threads_named(crate::sched::SQLITE_WRITER_THREAD);
    let upstream = Upstream::new(config.upstream_idle_timeout);
    let app = App::new(Parts {
        config,
        catalog,
        gateways,
        upstream,
        store,
        outage,
        log_queue,
        metrics,
        secrets,
        cache,
        limiter,
        spinner,
    });
    Ok(Built { app, log_writer })
}

/// The answer to a request that cannot be taken as framed ([`crate::forward::framing_refusal`]),
/// in the shape of the plane it was sent to (its unread body is thrown away, as for every
/// refusal).
fn framing_refused(req: &Request<Incoming>) -> Option<axum::response::Response> {
    use axum::response::IntoResponse;
    let (kind, message) = crate::forward::framing_refusal(req.version(), req.headers())?;
    let resp = if req.uri().path().starts_with("/client/v4") {
        crate::control::CpError {
            status: kind.status(),
            code: crate::control::codes::INVALID,
            message,
        }
        .into_response()
    } else {
        // Ids and the answer's security headers, as on every gateway-plane answer.
        let mut resp = crate::error::ApiError::new(kind, message).into_response();
        let x = crate::exchange::Exchange::new(req.method().clone(), req.uri().path());
        crate::proxy::stamp_answer(resp.headers_mut(), &x, None);
        resp
    };
    Some(resp)
}

/// How long saving the log records the database would not take may last at exit.
const SPILL_WAIT: Duration = Duration::from_secs(30);

/// The least time the log queue is given to be written at exit, however late it is.
const FLUSH_AT_LEAST: Duration = Duration::from_secs(2);

/// Serves on `listener` until `signal` (from [`shutdown_signal`]) completes, then drains
/// requests and the log queue.
///
/// Each connection runs in a task of one [`JoinSet`], and each HTTP/2 stream (which hyper runs
/// in a task of its own) in one of [`Streams`], so that at the end of the grace period the
/// requests still open can be ended here, before the log queue is flushed: a request dropped
/// mid-way queues its record as cancelled. Nothing that reached the gateway is missing from the
/// log because the process stopped.
pub async fn run(
    built: Built,
    listener: TcpListener,
    signal: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let Built { app, log_writer } = built;
    let grace = app.config().shutdown_grace;
    let client_timeout = app.config().client_timeout;
    let write_timeout = app.config().client_write_timeout;
    let queue = app.log_queue().clone();
    let router = router(app.clone());
    let streams = Streams::default();
    let mut builder = auto::Builder::new(streams.clone());
    // A client that trickles its request headers (or leaves a kept-alive connection idle) is
    // dropped after `client_timeout_ms`, so slow clients cannot hold every descriptor.
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(app.config().client_timeout);
    let graceful = GracefulShutdown::new();
    // Set when shutdown begins: a connection that has not yet sent a whole request (it
    // trickles its first headers) is closed then rather than waited for.
    let (stopping, stop_seen) = tokio::sync::watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            _ = &mut signal => break,
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        accept_failed(e).await;
                        continue;
                    }
                };
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "could not set TCP_NODELAY");
                }
                let router = router.clone();
                let started = Arc::new(AtomicBool::new(false));
                let seen = started.clone();
                let service = service_fn(move |mut req: Request<Incoming>| {
                    seen.store(true, Ordering::Relaxed);
                    if let Some(refused) = framing_refused(&req) {
                        crate::proxy::Leftover::of(req.headers())
                            .discard(axum::body::Body::new(req.into_body()));
                        return Either::Left(std::future::ready(Ok(refused)));
                    }
                    req.extensions_mut().insert(ConnectInfo(peer));
                    Either::Right(tower::Service::call(&mut router.clone(), req))
                });
                // A client that stops reading (its answer waits in a full socket buffer)
                // is cut after client_write_timeout_ms without room to write: it would
                // otherwise hold its connection, the provider's and the answer.
                let mut tcp = tokio_io_timeout::TimeoutStream::new(tcp);
                tcp.set_write_timeout(Some(write_timeout));
                let conn = builder
                    .serve_connection_with_upgrades(TokioIo::new(Box::pin(tcp)), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                let mut stop_seen = stop_seen.clone();
                connections.spawn(async move {
                    // A connection that starts no request within client_timeout_ms (it sends
                    // nothing, or too little for hyper to tell HTTP/1 from HTTP/2) is closed;
                    // after its first request, hyper's header timeout takes over.
                    let idle_start = async {
                        tokio::time::sleep(client_timeout).await;
                        if started.load(Ordering::Relaxed) {
                            std::future::pending::<()>().await;
                        }
                    };
                    let unstarted_at_stop = async {
                        let _ = stop_seen.wait_for(|stop| *stop).await;
                        if started.load(Ordering::Relaxed) {
                            std::future::pending::<()>().await;
                        }
                    };
                    tokio::select! {
                        ended = conn => {
                            if let Err(e) = ended {
                                tracing::trace!(error = %e, "connection ended with an error");
                            }
                        }
                        () = idle_start => {}
                        () = unstarted_at_stop => {}
                    }
                });
            }
            // Finished connections are collected as they end.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stopping.send(true);
    tracing::info!("shutdown signal received; draining in-flight requests");
    // One deadline for everything: a supervisor kills the process some time after its
    // signal, and what is not saved by then is lost.
    let deadline = tokio::time::Instant::now() + grace;
    // An HTTP/2 connection ends once its streams have, so its stream tasks are done or
    // finishing when the graceful shutdown completes. A second signal (Ctrl-C pressed again)
    // ends the grace period at once: what is in flight is cut and recorded as at its end.
    let drained = tokio::select! {
        r = tokio::time::timeout(grace, graceful.shutdown()) => r.is_ok(),
        () = shutdown_signal() => {
            tracing::warn!("second shutdown signal; ending the grace period now");
            false
        }
    };
    if !drained {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "closing remaining connections"
        );
        queue.mark_cut();
        connections.abort_all();
        streams.abort_all();
    }
    while connections.join_next().await.is_some() {}
    streams.join_all().await;
    // Everything acknowledged is written before exit: the queue is flushed within what is
    // left of the grace period (at least FLUSH_AT_LEAST). When the writer fails a write
    // (now or meanwhile), or the time runs out, what is left goes to spill files instead,
    // written at the next start.
    drop(router);
    drop(app);
    let flush_for = deadline
        .saturating_duration_since(tokio::time::Instant::now())
        .max(FLUSH_AT_LEAST);
    let flushed = if queue.healthy() {
        tokio::select! {
            r = tokio::time::timeout(flush_for, queue.flush()) => r.is_ok(),
            () = queue.until_failing() => false,
        }
    } else {
        // The last write failed: the writer's retries get a short chance to get through.
        tokio::time::timeout(FLUSH_AT_LEAST, queue.flush())
            .await
            .is_ok()
    };
    if !flushed {
        tracing::error!(
            queued = queue.depth(),
            "the database is not taking log records; saving them for the next start"
        );
        if tokio::time::timeout(SPILL_WAIT, queue.spill())
            .await
            .is_err()
        {
            tracing::error!(
                queued = queue.depth(),
                "log records could not be saved before exit"
            );
        }
    }
    drop(queue);
    // The writer thread ends once the last queue handle is gone; nothing is left for it to do.
    drop(log_writer);
    tracing::info!("stopped");
    Ok(())
}

/// The executor hyper runs HTTP/2 streams on: tokio tasks kept in one set (finished ones are
/// collected at each spawn), so that shutdown can wait for them or end them.
#[derive(Clone, Default)]
struct Streams(Arc<std::sync::Mutex<JoinSet<()>>>);

impl Streams {
    fn set(&self) -> std::sync::MutexGuard<'_, JoinSet<()>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn abort_all(&self) {
        self.set().abort_all();
    }

    /// Waits until every stream task has ended (aborted ones included). Not to be dropped
    /// midway: the tasks it holds would be aborted without being waited for.
    async fn join_all(&self) {
        loop {
            let mut tasks = std::mem::take(&mut *self.set());
            if tasks.is_empty() {
                return;
            }
            while tasks.join_next().await.is_some() {}
        }
    }
}

impl<F> hyper::rt::Executor<F> for Streams
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    fn execute(&self, stream: F) {
        let mut set = self.set();
        while set.try_join_next().is_some() {}
        set.spawn(stream);
    }
}

/// A failed `accept`: a connection that went away before it was accepted is nothing; running
/// out of file descriptors or memory is logged and waited out briefly instead of spinning.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Completes at the first SIGINT or SIGTERM after it is first polled (the handlers are set
/// then).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// A database URL with any password replaced, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}
