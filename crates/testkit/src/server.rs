//! The listener, the accept loop (one task per connection, HTTP/1.1 or h2c
//! prior knowledge, `TCP_NODELAY`), and [`FakeProvider`], the handle tests
//! use to script the fake and read what it saw.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::config::FakeConfig;
use crate::handler;
use crate::record::RecordedRequest;
use crate::script::Script;
use crate::state::Shared;

/// Why a fake provider could not start.
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    /// The listen address could not be bound.
    #[error("cannot bind the fake provider to {addr}")]
    Bind {
        /// Address that was asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The bound listener has no readable local address.
    #[error("cannot read the fake provider's local address")]
    LocalAddr(#[source] io::Error),
}

/// A running fake provider. It serves on the tokio runtime it was started
/// on and stops when dropped (or on [`FakeProvider::shutdown`]); open
/// connections are closed with it.
pub struct FakeProvider {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl FakeProvider {
    /// Starts a fake on `127.0.0.1:0` with the default config.
    ///
    /// # Panics
    /// If no loopback port can be bound (a broken test machine).
    pub async fn start() -> Self {
        Self::start_with(FakeConfig::default()).await
    }

    /// Starts a fake with `config`.
    ///
    /// # Panics
    /// If `config.listen` cannot be bound; use
    /// [`FakeProvider::try_start_with`] to handle that.
    pub async fn start_with(config: FakeConfig) -> Self {
        match Self::try_start_with(config).await {
            Ok(fake) => fake,
            Err(err) => panic!("fake provider failed to start: {err}"),
        }
    }

    /// Starts a fake with `config`, reporting a bind failure.
    pub async fn try_start_with(config: FakeConfig) -> Result<Self, FakeError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| FakeError::Bind {
                    addr: config.listen,
                    source,
                })?;
        Self::from_listener(listener, config)
    }

    /// Serves on an already bound listener (`config.listen` is ignored).
    /// Must be called within a tokio runtime.
    pub fn from_listener(listener: TcpListener, config: FakeConfig) -> Result<Self, FakeError> {
        let addr = listener.local_addr().map_err(FakeError::LocalAddr)?;
        let shared = Arc::new(Shared::new(config));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), stopped));
        Ok(Self {
            shared,
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`, without a trailing slash or path.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues a script for the next provider request that has none
    /// (first in, first out; one per request).
    pub fn push_script(&self, script: Script) {
        self.shared.push_script(script);
    }

    /// Copies of the recorded requests, oldest first (empty when the fake
    /// was started with `record: false`).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// The most recent recorded request.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.shared.requests().pop()
    }

    /// Provider requests received (control requests excluded).
    pub fn hits(&self) -> usize {
        self.shared.hits()
    }

    /// Provider requests received on `path` (compared without the query;
    /// a query in `path` is ignored).
    pub fn hits_for(&self, path: &str) -> usize {
        self.shared.hits_for(path)
    }

    /// Responses the client abandoned: the connection closed during the
    /// scripted delay or before a stream's end.
    pub fn disconnects(&self) -> usize {
        self.shared.disconnects()
    }

    /// Scripts still queued.
    pub fn queued_scripts(&self) -> usize {
        self.shared.queued_scripts()
    }

    /// Clears recorded requests, counters and queued scripts.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Waits until at least `n` hits were counted; false on timeout.
    pub async fn wait_for_hits(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, || self.hits() >= n).await
    }

    /// Waits until at least `n` disconnects were counted; false on timeout.
    pub async fn wait_for_disconnects(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, || self.disconnects() >= n).await
    }

    async fn wait_until(&self, timeout: Duration, done: impl Fn() -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if done() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Stops accepting, closes open connections and waits for the accept
    /// loop to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        // Dropping the sender ends the accept loop, whose JoinSet then
        // aborts every connection task.
        self.stop.take();
    }
}

impl std::fmt::Debug for FakeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeProvider")
            .field("addr", &self.addr)
            .field("hits", &self.hits())
            .finish_non_exhaustive()
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: oneshot::Receiver<()>,
) {
    let builder = Arc::new(connection_builder());
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = &mut stopped => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve(Arc::clone(&builder), stream, Arc::clone(&shared)));
                }
                // Out of file descriptors or a connection reset before
                // accept: back off a little instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            },
        }
    }
}

fn connection_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // No timer is configured, so switch the default header timeout off
    // explicitly; half-close stays off so a client that goes away is noticed
    // while its request waits.
    builder.http1().header_read_timeout(None).half_close(false);
    builder
}

async fn serve(builder: Arc<auto::Builder<TokioExecutor>>, stream: TcpStream, shared: Arc<Shared>) {
    // Latency matters more than packet count here.
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| handler::handle(Arc::clone(&shared), request));
    // Connection errors (client resets, scripted aborts) end this
    // connection only; there is nobody to report them to.
    let _ = builder
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
