//! Test harness: the real `switchyard` binary on port 0, pointed at in-process fakes, and a
//! small HTTP client that records when each body frame arrived.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use switchyard_testkit::{FakeProvider, Script, ScriptUsage};

/// A running gateway process.
pub struct Gateway {
    child: Option<Child>,
    pub url: String,
    pub addr: String,
    pub dir: tempfile::TempDir,
    stderr_path: PathBuf,
}

/// The config lines that point the usual providers at `fake`.
pub fn providers_for(fake: &FakeProvider) -> String {
    let u = fake.url();
    format!(
        "[providers.grok]\nbase_url = \"{u}/v1\"\n\n[providers.openai]\nbase_url = \"{u}/v1\"\n\n[providers.anthropic]\nbase_url = \"{u}\"\n\n[providers.groq]\nbase_url = \"{u}/openai/v1\"\n\n[providers.mistral]\nbase_url = \"{u}\"\n"
    )
}

impl Gateway {
    /// Starts the gateway with the fake's providers plus `extra` config (top-level keys
    /// first in `extra` are fine: they are written before the tables).
    pub async fn start(fake: &FakeProvider, extra: &str) -> Gateway {
        let text = format!("{extra}\n{}", providers_for(fake));
        Self::start_raw(&text).await
    }

    /// Starts the gateway with exactly this config (plus a database in a temp dir unless the
    /// config names one).
    pub async fn start_raw(config: &str) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("switchyard.db");
        let mut text = String::new();
        if !config.contains("database") {
            text.push_str(&format!("database = \"sqlite://{}\"\n", db.display()));
        }
        text.push_str(config);
        let cfg = dir.path().join("switchyard.toml");
        std::fs::write(&cfg, text).unwrap();
        let stderr_path = dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&cfg)
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        });
        let line = tokio::time::timeout(Duration::from_secs(20), line)
            .await
            .expect("gateway did not start within 20 s")
            .unwrap()
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                panic!("unexpected first line {line:?}; stderr:\n{err}")
            })
            .to_owned();
        let addr = url.trim_start_matches("http://").to_owned();
        Gateway {
            child: Some(child),
            url,
            addr,
            dir,
            stderr_path,
        }
    }

    /// The gateway's own SQLite database, opened beside it (for what no API serves, or
    /// after it has exited).
    pub async fn open_store(&self) -> switchyard_store::Store {
        let db = format!(
            "sqlite://{}",
            self.dir.path().join("switchyard.db").display()
        );
        switchyard_store::open(&db)
            .await
            .expect("the gateway's database")
    }

    /// The records of `acct/gw` in the gateway's database (first page), read directly: also
    /// after the gateway has exited.
    pub async fn stored_records(&self) -> Vec<switchyard_core::LogRecord> {
        self.open_store()
            .await
            .list_logs(
                &switchyard_core::AccountId::parse("acct").unwrap(),
                &switchyard_core::GatewayId::parse("gw").unwrap(),
                &Default::default(),
            )
            .await
            .expect("readable")
            .records
    }

    /// `POST {base}/grok/v1/chat/completions` with [`CHAT`] and exactly these headers.
    pub async fn chat(&self, headers: &[(&str, &str)]) -> Answer {
        post(
            &format!("{}/grok/v1/chat/completions", self.base()),
            headers,
            CHAT,
        )
        .await
    }

    /// `{url}/v1/{account}/{gateway}` with the default test ids.
    pub fn base(&self) -> String {
        format!("{}/v1/acct/gw", self.url)
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Sends SIGTERM and asserts a clean exit (code 0) within `limit`.
    pub async fn stop_within(&mut self, limit: Duration) {
        let t = Instant::now();
        self.terminate();
        assert_eq!(self.wait_exit(limit * 3).await, Some(0));
        assert!(t.elapsed() < limit, "exit took {:?}", t.elapsed());
    }

    /// Waits for the process to exit and returns its exit code.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                panic!("gateway did not exit within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A finished exchange as the client saw it.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// `cf-aig-log-id`, which every gateway answer carries.
    pub fn log_id(&self) -> &str {
        self.headers
            .get("cf-aig-log-id")
            .expect("cf-aig-log-id")
            .to_str()
            .expect("an ASCII log id")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts the gateway's own error shape (SPEC 2.6) with this status and code.
    pub fn assert_gateway_error(&self, status: u16, code: u64) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.headers.get("content-type").unwrap(),
            "application/json"
        );
        let j = self.json();
        assert_eq!(j["success"], false);
        assert_eq!(j["error"][0]["code"], code, "{j}");
        assert_eq!(j["internalCode"], code);
        assert_eq!(j["httpCode"], status);
        assert_eq!(j["name"], "AiGatewayError");
        assert!(j["error"][0]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
}

pub fn client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn request(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Request<Full<Bytes>> {
    let mut b = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(body.into())).unwrap()
}

/// Sends one request and reads the whole answer.
pub async fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    let resp = client()
        .request(request(method, url, headers, body))
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub async fn post(url: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    send(Method::POST, url, headers, body.to_owned()).await
}

/// The record, among `rows` (a logs list), of the request `a` answered.
pub fn record_of<'a>(rows: &'a [serde_json::Value], a: &Answer) -> &'a serde_json::Value {
    rows.iter()
        .find(|r| r["id"] == a.log_id())
        .unwrap_or_else(|| panic!("no record {} in {rows:?}", a.log_id()))
}

/// A streamed answer: every body frame with the time it arrived.
#[derive(Debug)]
pub struct Streamed {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub sent_at: Instant,
    pub headers_at: Instant,
    pub frames: Vec<(Instant, Bytes)>,
    /// Set when the body ended with an error instead of a clean end.
    pub error: Option<String>,
}

impl Streamed {
    pub fn text(&self) -> String {
        let mut s = String::new();
        for (_, b) in &self.frames {
            s.push_str(&String::from_utf8_lossy(b));
        }
        s
    }

    /// Arrival time of the first frame containing `needle`.
    pub fn time_of(&self, needle: &str) -> Option<Instant> {
        let mut seen = String::new();
        for (t, b) in &self.frames {
            seen.push_str(&String::from_utf8_lossy(b));
            if seen.contains(needle) {
                return Some(*t);
            }
        }
        None
    }
}

/// Sends a request and records each body frame as it arrives.
pub async fn stream(url: &str, headers: &[(&str, &str)], body: &str) -> Streamed {
    let sent_at = Instant::now();
    let resp = client()
        .request(request(Method::POST, url, headers, body.to_owned()))
        .await
        .unwrap();
    let headers_at = Instant::now();
    let (parts, mut body) = resp.into_parts();
    let mut frames = Vec::new();
    let mut error = None;
    loop {
        match body.frame().await {
            None => break,
            Some(Ok(f)) => {
                if let Ok(data) = f.into_data() {
                    frames.push((Instant::now(), data));
                }
            }
            Some(Err(e)) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    Streamed {
        status: parts.status,
        headers: parts.headers,
        sent_at,
        headers_at,
        frames,
        error,
    }
}

/// Writes raw bytes to `addr` and returns the raw answer (until the server closes or 5 s).
pub async fn raw(addr: &str, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes raw bytes to `addr` and returns the answer's head, as soon as it has come (within
/// 10 s), whether or not the connection stays open.
pub async fn raw_head(addr: &str, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !out.windows(4).any(|w| w == b"\r\n\r\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Status code of a raw HTTP/1.1 answer.
pub fn raw_status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

/// Reads a whole file that a child wrote (helper for logs).
pub fn read_file(path: &std::path::Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

pub const CHAT: &str = r#"{"model":"grok-beta","messages":[{"role":"user","content":"Hello"}]}"#;
pub const CHAT_STREAM: &str = r#"{"model":"grok-beta","messages":[{"role":"user","content":"Hello"}],"stream":true,"stream_options":{"include_usage":true}}"#;
pub const AUTH: (&str, &str) = ("authorization", "Bearer xai-test-key");

impl Gateway {
    /// `{url}/client/v4/accounts/acct/ai-gateway{path}`.
    pub fn cp(&self, path: &str) -> String {
        format!("{}/client/v4/accounts/acct/ai-gateway{path}", self.url)
    }

    /// Polls the logs list until `n` records exist (the writer batches for up to 50 ms).
    pub async fn wait_for_logs(&self, gateway: &str, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let a = send(
                Method::GET,
                &self.cp(&format!("/gateways/{gateway}/logs?per_page=50")),
                &[],
                "",
            )
            .await;
            if a.status == 200 {
                let rows = a.json()["result"].as_array().cloned().unwrap_or_default();
                if rows.len() >= n {
                    return rows;
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "expected {n} log records; got status {} body {}",
                    a.status,
                    String::from_utf8_lossy(&a.body)
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Sends JSON to the control plane.
pub async fn cp_send(method: Method, url: &str, body: serde_json::Value) -> Answer {
    send(
        method,
        url,
        &[("content-type", "application/json")],
        body.to_string(),
    )
    .await
}

// ---- Shared state and replicas (used by shared_state.rs and replicas.rs) ----

/// A test-unique id (`{prefix}{32 hex}`), so tests running in parallel and earlier runs,
/// whose Redis keys and PostgreSQL rows persist, never share an account or gateway.
pub fn unique_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

/// A `secret_key` config line, and another that opens nothing the first sealed.
pub const SECRET_KEY: &str = "secret_key = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n";
pub const OTHER_SECRET_KEY: &str =
    "secret_key = \"HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4=\"\n";

/// `SWITCHYARD_TEST_POSTGRES`; the tests that need it fail (never skip) without it.
pub fn postgres_url() -> String {
    std::env::var("SWITCHYARD_TEST_POSTGRES").expect(
        "SWITCHYARD_TEST_POSTGRES must name a PostgreSQL database \
         (e.g. postgres://postgres@127.0.0.1:5432/test); these tests do not skip",
    )
}

/// `SWITCHYARD_TEST_REDIS`; the tests that need it fail (never skip) without it.
pub fn redis_url() -> String {
    std::env::var("SWITCHYARD_TEST_REDIS").expect(
        "SWITCHYARD_TEST_REDIS must name a Redis server (e.g. redis://127.0.0.1:6379); \
         these tests do not skip",
    )
}

/// `scheme://[user@]HOST:PORT/...` → `HOST:PORT` (with `default_port` when none is given).
pub fn url_authority(url: &str, default_port: u16) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let hostport = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    if hostport
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        hostport.to_owned()
    } else {
        format!("{hostport}:{default_port}")
    }
}

/// `url` with its `HOST:PORT` replaced by `addr` (user, path and query kept).
pub fn url_via(url: &str, addr: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let user = authority
        .rsplit_once('@')
        .map(|(u, _)| format!("{u}@"))
        .unwrap_or_default();
    format!("{scheme}://{user}{addr}{tail}")
}

/// A loopback address where nothing listens (bound, then released).
pub fn refused_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    addr
}

impl Gateway {
    /// Starts with `database = "{database}"`, then `extra` (top-level keys first), then the
    /// fake's providers. Replicas: call twice with the same arguments (each gets its own
    /// port and working directory).
    pub async fn start_with_database(fake: &FakeProvider, database: &str, extra: &str) -> Gateway {
        Self::start_raw(&format!(
            "database = \"{database}\"\n{extra}\n{}",
            providers_for(fake)
        ))
        .await
    }

    /// Stops the gateway (SIGTERM, exit 0 within 10 s) and gives the config line that opens
    /// its SQLite store, for a later start on the same store.
    pub async fn stop_keeping_store(&mut self) -> String {
        self.terminate();
        assert_eq!(self.wait_exit(Duration::from_secs(10)).await, Some(0));
        let db = self.dir.path().join("switchyard.db");
        format!("database = \"sqlite://{}\"\n", db.display())
    }

    /// `{url}/v1/{account}/{gateway}`.
    pub fn base_for(&self, account: &str, gateway: &str) -> String {
        format!("{}/v1/{account}/{gateway}", self.url)
    }

    /// `{url}/client/v4/accounts/{account}/ai-gateway{path}`.
    pub fn cp_for(&self, account: &str, path: &str) -> String {
        format!("{}/client/v4/accounts/{account}/ai-gateway{path}", self.url)
    }

    /// The first page (up to 100 rows) of a gateway's logs, or `None` when the control plane
    /// does not answer 200.
    pub async fn logs_in(&self, account: &str, gateway: &str) -> Option<Vec<serde_json::Value>> {
        let a = send(
            Method::GET,
            &self.cp_for(account, &format!("/gateways/{gateway}/logs?per_page=100")),
            &[],
            "",
        )
        .await;
        (a.status == 200).then(|| a.json()["result"].as_array().cloned().unwrap_or_default())
    }

    /// Polls the logs of `account/gateway` until at least `n` rows exist or `within` passes.
    pub async fn wait_for_logs_in(
        &self,
        account: &str,
        gateway: &str,
        n: usize,
        within: Duration,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + within;
        loop {
            let rows = self.logs_in(account, gateway).await;
            if let Some(rows) = &rows {
                if rows.len() >= n {
                    return rows.clone();
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "expected {n} log records of {account}/{gateway} within {within:?}; got {:?}\nstderr:\n{}",
                    rows.map(|r| r.len()),
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// `GET /metrics` as text.
    pub async fn metrics_text(&self) -> String {
        let m = send(Method::GET, &format!("{}/metrics", self.url), &[], "").await;
        assert_eq!(m.status, 200);
        String::from_utf8_lossy(&m.body).into_owned()
    }
}

/// The sum of every sample of metric `name` (any labels) in Prometheus text.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The `cf-aig-cache-status` of an answer, if any.
pub fn cache_status(headers: &HeaderMap) -> Option<String> {
    headers
        .get("cf-aig-cache-status")
        .map(|v| v.to_str().unwrap().to_owned())
}

/// SSE events of a body: each event with its terminating blank line.
pub fn sse_events(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("\n\n") {
        out.push(rest[..i + 2].to_owned());
        rest = &rest[i + 2..];
    }
    if !rest.is_empty() {
        out.push(rest.to_owned());
    }
    out
}

/// A TCP forwarder in front of a real server (PostgreSQL, Redis) that a test can cut and
/// restore. While cut, live connections are closed and new ones are accepted and closed at
/// once (the port stays bound, so the restored proxy is at the same address).
pub struct CutProxy {
    pub addr: String,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cuts: tokio::sync::watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    /// Forwards `127.0.0.1:0` to `target` (`HOST:PORT`).
    pub async fn start(target: &str) -> CutProxy {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let open = std::sync::Arc::new(AtomicBool::new(true));
        let (cuts, _) = tokio::sync::watch::channel(0u64);
        let target = target.to_owned();
        let (o, c) = (open.clone(), cuts.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !o.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut cut = c.subscribe();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        CutProxy {
            addr,
            open,
            cuts,
            task,
        }
    }

    /// Closes every live connection and refuses new ones until [`CutProxy::restore`].
    pub fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Forwards new connections again.
    pub fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}

/// A loopback port nothing listens on, so connecting is refused.
pub fn closed_port() -> u16 {
    // Port 1 (tcpmux) is outside the ephemeral range every test server binds from, so no
    // gateway or fake started by a test running in parallel can take it (a port that was
    // free a moment ago can be, and then answers).
    1
}

/// A raw HTTP/1.1 upstream at the returned URL: reads each request whole (head, then as many
/// body bytes as it announces), answers it with `answer` as given and closes; counts the
/// requests whose path starts with `counted`.
pub async fn canned_upstream(
    answer: Vec<u8>,
    counted: &'static str,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let answer = std::sync::Arc::new(answer);
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 8192];
                let head_end = loop {
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    req.extend_from_slice(&buf[..n]);
                    if let Some(i) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&req[..head_end]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while req.len() < head_end + len {
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    req.extend_from_slice(&buf[..n]);
                }
                let path = head.split(' ').nth(1).unwrap_or("");
                if path.starts_with(counted) {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                let _ = s.write_all(&answer).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (url, hits)
}
